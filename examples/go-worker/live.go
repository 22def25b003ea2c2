package main

// Secrets and live config over the wire (subjects.md, "Secrets" and "Configuration, live"),
// with nats.go and golang.org/x/crypto/nacl/box only: nkeys 0.3 (Debian bookworm) has no curve
// keys, so the xkey encoding (base32 of prefix 'X' + key + CRC-16, little endian) and the sealed
// box ("xkv1" + 24-byte nonce + NaCl box) are written out here.
//
//	GANGLION_SECRET  optional: a secret this worker reads at start and again whenever the core says
//	                 it rotated (the plugin must be granted secret.read:<name>). Only its version and
//	                 SHA-256 are printed, never the value.
//
// The config in force is asked on "cfg" at start and replaced by every config.changed on
// ctl.<plugin>; each version is printed as "go-hasher config version <n> <json>". The core's
// live.versions (at its start and every minute) and a reconnect (notices sent meanwhile are lost)
// make it ask again for what is newer than what it holds: a notice lost to a core crash or a
// disconnect is repaired.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/nacl/box"
)

const (
	curvePrefix byte = 23 << 3 // base32-encodes to 'X'
	xkeyVersion      = "xkv1"
	configSubj       = "cfg"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// crc16 is CRC-16/XMODEM, as nkeys checksums its keys.
func crc16(data []byte) uint16 {
	var crc uint16
	for _, b := range data {
		crc ^= uint16(b) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func encodeCurvePublic(pub *[32]byte) string {
	raw := append([]byte{curvePrefix}, pub[:]...)
	sum := make([]byte, 2)
	binary.LittleEndian.PutUint16(sum, crc16(raw))
	return b32.EncodeToString(append(raw, sum...))
}

func decodeCurvePublic(s string) (*[32]byte, error) {
	raw, err := b32.DecodeString(s)
	if err != nil || len(raw) != 35 || raw[0] != curvePrefix {
		return nil, errors.New("not a curve public key")
	}
	if crc16(raw[:33]) != binary.LittleEndian.Uint16(raw[33:]) {
		return nil, errors.New("curve public key: bad checksum")
	}
	var k [32]byte
	copy(k[:], raw[1:33])
	return &k, nil
}

// openSealed opens an xkey sealed box from sender with our private key.
func openSealed(sealed []byte, sender string, priv *[32]byte) ([]byte, error) {
	if len(sealed) < len(xkeyVersion)+24 || string(sealed[:4]) != xkeyVersion {
		return nil, errors.New("not an xkv1 sealed box")
	}
	pub, err := decodeCurvePublic(sender)
	if err != nil {
		return nil, err
	}
	var nonce [24]byte
	copy(nonce[:], sealed[4:28])
	out, ok := box.Open(nil, sealed[28:], &nonce, pub, priv)
	if !ok {
		return nil, errors.New("the sealed value does not open with this worker's key")
	}
	return out, nil
}

type secretReply struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Sealed  string `json:"sealed"`
	Sender  string `json:"sender"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type liveNotice struct {
	Type    string          `json:"type"`
	Name    string          `json:"name"`
	Version int             `json:"version"`
	Config  json.RawMessage `json:"config"` // an object in config.changed, a version in live.versions
	Secrets map[string]int  `json:"secrets"`
}

// configAnswer is what "cfg" answers; Secrets (the versions in force) from cores that list them.
type configAnswer struct {
	Version int             `json:"version"`
	Config  json.RawMessage `json:"config"`
	Secrets map[string]int  `json:"secrets"`
}

// live holds this process's curve key (made at start, never sent anywhere but its public half)
// and the newest config version seen.
type live struct {
	nc            *nats.Conn
	secret        string
	pub           *[32]byte
	priv          *[32]byte
	mu            sync.Mutex
	configVersion int
	secretVersion int // of the value held; 0: none
	printf        func(string, ...any)
}

func newLive(nc *nats.Conn, secret string, printf func(string, ...any)) (*live, error) {
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &live{nc: nc, secret: secret, pub: pub, priv: priv, configVersion: -1, printf: printf}, nil
}

// readSecret asks secret.<name> with our curve public key and opens the sealed answer.
func (l *live) readSecret(name string) ([]byte, int, error) {
	req, _ := json.Marshal(map[string]string{"publicKey": encodeCurvePublic(l.pub)})
	m, err := l.nc.Request("secret."+name, req, 5*time.Second)
	if err != nil {
		return nil, 0, fmt.Errorf("secret %s: %w (is the plugin granted secret.read:%s?)", name, err, name)
	}
	var r secretReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return nil, 0, fmt.Errorf("secret %s: %w", name, err)
	}
	if r.Error != nil {
		return nil, 0, fmt.Errorf("secret %s: %s (%s)", name, r.Error.Message, r.Error.Code)
	}
	sealed, err := base64.StdEncoding.DecodeString(r.Sealed)
	if err != nil {
		return nil, 0, err
	}
	v, err := openSealed(sealed, r.Sender, l.priv)
	return v, r.Version, err
}

func (l *live) showSecret() {
	v, version, err := l.readSecret(l.secret)
	if err != nil {
		l.printf("go-hasher secret error %v\n", err)
		return
	}
	sum := sha256.Sum256(v)
	l.mu.Lock()
	defer l.mu.Unlock()
	if version <= l.secretVersion {
		return // a late answer, or a version already shown
	}
	l.secretVersion = version
	l.printf("go-hasher secret %s version %d sha256 %s\n", l.secret, version, hex.EncodeToString(sum[:]))
}

// compareSecret reads the secret again when the versions in force name a newer one, and forgets it
// when they do not list it (removed, or no longer granted).
func (l *live) compareSecret(inForce map[string]int) {
	if l.secret == "" {
		return
	}
	l.mu.Lock()
	v, listed := inForce[l.secret]
	held := l.secretVersion
	if !listed && held > 0 {
		l.secretVersion = 0
		l.printf("go-hasher secret %s removed\n", l.secret)
	}
	l.mu.Unlock()
	if listed && v > held {
		go l.showSecret()
	}
}

// askConfig asks "cfg" for the config in force, a few times while the core does not answer
// (after a server restart it may come back after us); nil when it never did.
func (l *live) askConfig(tries int) *configAnswer {
	for i := 1; i <= tries; i++ {
		if m, err := l.nc.Request(configSubj, []byte("{}"), 5*time.Second); err == nil {
			var c configAnswer
			if json.Unmarshal(m.Data, &c) == nil {
				l.applyConfig(c.Version, c.Config)
				return &c
			}
		}
		time.Sleep(time.Duration(500*i) * time.Millisecond)
	}
	return nil
}

// catchUp runs after a reconnect: what changed meanwhile, asked again.
func (l *live) catchUp() {
	c := l.askConfig(10)
	if c == nil {
		return // the core's next live.versions will
	}
	if c.Secrets != nil {
		l.compareSecret(c.Secrets)
	} else if l.secret != "" {
		l.showSecret()
	}
}

func (l *live) applyConfig(version int, config json.RawMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if version <= l.configVersion {
		return // never replace a newer config by a late older one
	}
	l.configVersion = version
	var compact bytes.Buffer
	if json.Compact(&compact, config) != nil {
		return
	}
	l.printf("go-hasher config version %d %s\n", version, compact.String())
}

// start asks for the config in force and, with GANGLION_SECRET, reads the secret.
func (l *live) start() {
	l.askConfig(1)
	if l.secret != "" {
		l.showSecret()
	}
}

// onControl handles the live notices on ctl.<plugin>; false for anything else (a cancel).
func (l *live) onControl(data []byte) bool {
	var n liveNotice
	if json.Unmarshal(data, &n) != nil {
		return false
	}
	switch n.Type {
	case "config.changed":
		l.applyConfig(n.Version, n.Config)
	case "secret.rotated":
		l.mu.Lock()
		newer := n.Name == l.secret && n.Version > l.secretVersion
		l.mu.Unlock()
		if newer {
			go l.showSecret()
		}
	case "live.versions":
		var config int
		if json.Unmarshal(n.Config, &config) != nil {
			return false
		}
		l.mu.Lock()
		newer := config > l.configVersion
		l.mu.Unlock()
		if newer {
			go l.askConfig(3)
		}
		l.compareSecret(n.Secrets)
	case "secret.removed":
		if n.Name == l.secret {
			l.compareSecret(map[string]int{})
		}
	default:
		return false
	}
	return true
}
