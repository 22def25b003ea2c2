package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
)

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestHashTask(t *testing.T) {
	long := strings.Repeat("ganglion ", 20000)
	cases := []struct {
		params string
		data   []byte
	}{
		{`{"data":"abc"}`, []byte("abc")},
		{`{"data":"abc","encoding":"utf8"}`, []byte("abc")},
		{`{"data":"00ff10","encoding":"hex"}`, []byte{0, 255, 16}},
		{`{"data":"AAH/","encoding":"base64"}`, []byte{0, 1, 255}},
		{`{"data":""}`, []byte{}},
		{`{"data":"` + long + `"}`, []byte(long)},
	}
	for _, c := range cases {
		var reports [][2]int
		r, err := hashTask(context.Background(), []byte(c.params), func(done, total int, _ string) { reports = append(reports, [2]int{done, total}) })
		if err != nil {
			t.Fatalf("%.40s: %v", c.params, err)
		}
		if r.SHA256 != digest(c.data) || r.Bytes != len(c.data) {
			t.Errorf("%.40s: got %+v", c.params, r)
		}
		if len(c.data) > chunkSize {
			if len(reports) == 0 || reports[len(reports)-1] != [2]int{len(c.data), len(c.data)} {
				t.Errorf("long input: progress %v does not end at %d", reports, len(c.data))
			}
		} else if len(reports) != 0 {
			t.Errorf("%.40s: progress on a short input: %v", c.params, reports)
		}
	}
}

func TestBadParamsAreNotRetryable(t *testing.T) {
	cases := map[string]string{
		`{"data":"zz","encoding":"hex"}`:    "params.data: not valid hex",
		`{"data":"a!","encoding":"base64"}`: "params.data: not valid base64",
		`{"data":"a","encoding":"rot13"}`:   "params.encoding: expected utf8, hex or base64",
		`{"text":"a"}`:                      "params: not an object of {data, encoding, rounds}",
		`{"data":"a","rounds":0}`:           "params.rounds: expected 1 to 100000000",
		`{}`:                                "params.data: required",
		`[1]`:                               "params: not an object",
	}
	for params, want := range cases {
		_, err := hashTask(context.Background(), []byte(params), func(int, int, string) {})
		f, ok := err.(*failure)
		if !ok || f.retryable || !strings.HasPrefix(f.msg, want) {
			t.Errorf("%s: got %v, want a non-retryable %q", params, err, want)
		}
	}
}

func TestRounds(t *testing.T) {
	want := []byte("abc")
	for i := 0; i < 3*roundsStep+6; i++ {
		s := sha256.Sum256(want)
		want = s[:]
	}
	var last [2]int
	r, err := hashTask(context.Background(), []byte(`{"data":"abc","rounds":`+strconv.Itoa(3*roundsStep+6)+`}`), func(done, total int, _ string) { last = [2]int{done, total} })
	if err != nil || r.SHA256 != hex.EncodeToString(want) || r.Bytes != 3 {
		t.Fatalf("got %+v, %v", r, err)
	}
	if last != [2]int{3*roundsStep + 6, 3*roundsStep + 6} {
		t.Errorf("progress ends at %v", last)
	}
}

func TestCancelledStopsStretching(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := hashTask(ctx, []byte(`{"data":"a","rounds":100000000}`), func(int, int, string) {}); err != context.Canceled {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestCancelledStopsHashing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := hashTask(ctx, []byte(`{"data":"`+strings.Repeat("x", 3*chunkSize)+`"}`), func(int, int, string) {}); err != context.Canceled {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestToken(t *testing.T) {
	for in, want := range map[string]string{"Host-1": "host-1", "a.b c": "a-b-c", "--x": "x", "": "w", "ÄB": "b"} {
		if got := token(in); got != want {
			t.Errorf("token(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTLSOptions(t *testing.T) {
	dir := t.TempDir()
	pem := dir + "/x.pem"
	if err := os.WriteFile(pem, []byte("not used by tlsOptions itself"), 0o600); err != nil {
		t.Fatal(err)
	}
	if o, err := tlsOptions("", "", ""); err != nil || len(o) != 0 {
		t.Errorf("no variables: got %d options, %v; want plain TCP", len(o), err)
	}
	if o, err := tlsOptions(pem, "", ""); err != nil || len(o) != 1 {
		t.Errorf("a CA: got %d options, %v", len(o), err)
	}
	if o, err := tlsOptions(pem, pem, pem); err != nil || len(o) != 2 {
		t.Errorf("a CA and a client certificate: got %d options, %v", len(o), err)
	}
	if _, err := tlsOptions(dir+"/missing.pem", "", ""); err == nil || !strings.Contains(err.Error(), "GANGLION_TLS_CA") {
		t.Errorf("a missing CA file: got %v", err)
	}
	for _, c := range [][2]string{{pem, ""}, {"", pem}} {
		if _, err := tlsOptions("", c[0], c[1]); err == nil || !strings.Contains(err.Error(), "go together") {
			t.Errorf("cert %q key %q: got %v, want an error", c[0], c[1], err)
		}
	}
}
