package main

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestIsRefusal(t *testing.T) {
	for _, err := range []error{nats.ErrAuthorization, nats.ErrAuthRevoked, nats.ErrAuthExpired, nats.ErrAccountAuthExpired, errors.New("nats: Authorization Violation")} {
		if !isRefusal(err) {
			t.Errorf("%v: want a refusal", err)
		}
	}
	for _, err := range []error{nil, nats.ErrConnectionClosed, nats.ErrNoServers, nats.ErrTimeout, errors.New("nats: Permissions Violation for Publish to \"x\"")} {
		if isRefusal(err) {
			t.Errorf("%v: not a refusal", err)
		}
	}
}
