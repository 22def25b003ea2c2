package main

// The connection's lifecycle (subjects.md, "When the server refuses the credentials"): a refusal
// of the credentials is permanent until they change, so the worker stops and exits with
// exitRefused; anything else (a server restart, a network cut) is retried for ever.

import (
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// exitRefused is the exit code when the server refuses the credentials: they were revoked, the
// plugin was disabled or removed, or they expired (sysexits' EX_NOPERM; the same in every
// Ganglion worker). Restarting with the same .creds cannot help.
const exitRefused = 77

// isRefusal says whether err is the server refusing the credentials. nats.go reports it as
// ErrAuthorization & co. on a live connection, and as a plain error with the server's text at
// the first connect, so the text is what is compared.
func isRefusal(err error) bool {
	if err == nil {
		return false
	}
	e := strings.ToLower(err.Error())
	for _, s := range []string{"authorization violation", "authentication revoked", "authentication expired"} {
		if strings.Contains(e, s) {
			return true
		}
	}
	return false
}

func refusalMessage(err error) string {
	return fmt.Sprintf("the server refused the credentials of plugin %s (%v): they were revoked, the plugin is disabled or removed, or they expired. "+
		"Once the plugin is enabled, mint new ones (ganglion plugin creds %s -o FILE) and start the worker again", pluginID, err, pluginID)
}

// lifecycle notices a connection closed by a refusal and asks the worker to stop.
type lifecycle struct {
	mu      sync.Mutex
	refused error
	stop    func()
}

// closedHandler is the connection's ClosedHandler: nats.go closes the connection after the same
// auth error twice in a row, which is how a revoked or disabled plugin's worker gets here.
func (l *lifecycle) closedHandler(nc *nats.Conn) {
	if err := nc.LastError(); isRefusal(err) {
		l.mu.Lock()
		l.refused = err
		stop := l.stop
		l.mu.Unlock()
		if stop != nil {
			stop()
		}
	}
}

// refusal is the refusal that closed the connection, if one did.
func (l *lifecycle) refusal() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}
