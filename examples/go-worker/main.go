// Command go-hasher is a Ganglion worker written in Go against the wire contract alone
// (subjects.md, "Tasks, topics and health" and "Writing a worker in another language"): it
// imports nats.go and the standard library, not a line of Ganglion.
//
// It serves the task type hash.sha256 of the plugin go-hasher (manifest.yaml next to this file):
//
//	params {data: string, encoding?: "utf8"|"hex"|"base64", rounds?: int}  ->  result {sha256: hex, bytes: int}
//
// rounds > 1 hashes the digest again rounds-1 times (key stretching): a long task that reports
// progress and stops at once when the core cancels it.
//
// How it connects (subjects.md, "Writing a worker in another language"): the .creds file is a
// user of the plugin's own NATS account, with no permissions and no inbox prefix to set. That
// account has no JetStream of its own: it imports its consumer's API from the BUS account under
// the prefix $JS.BUS.API, so JetStream is opened with nats.APIPrefix("$JS.BUS.API"). It binds to
// the consumer of its one task type, task_go-hasher_hash_dsha256 (filter task.go-hasher.hash.sha256),
// on its own work queue TASKS_go-hasher (the core makes one consumer per task type; a worker binds
// those of the types it serves, so it is never handed a type it has no handler for),
// publishes reports on res.go-hasher.<taskId> (JetStream: the stream acks them) and heartbeats on
// hb.go-hasher.<instance>, and listens for cancellations on ctl.go-hasher. What the account does
// not import reaches nothing.
//
// Environment:
//
//	GANGLION_CREDS    the plugin's .creds file (ganglion plugin creds go-hasher -o FILE); default ./go-hasher.creds
//	NATS_URL          default nats://127.0.0.1:4222
//	WORKER_INSTANCE   this process's instance id (a subject token); default <host>-<pid>
//	HEARTBEAT_MS      heartbeat period, default 5000
//	GANGLION_TLS_CA   optional: a CA certificate (PEM) file; when set, the connection uses TLS and
//	                  verifies the server's certificate against this CA (nats.RootCAs)
//	GANGLION_TLS_CERT optional, with GANGLION_TLS_KEY: a client certificate and its private key
//	GANGLION_TLS_KEY  (PEM files) presented to a server that requires mutual TLS (nats.ClientCert);
//	                  one without the other is refused at start
//
// It prints "go-hasher worker <instance> running" on stdout once it pulls tasks, logs on stderr,
// and on SIGTERM or SIGINT stops pulling, finishes what it runs, says goodbye and exits 0. When
// the server refuses its credentials (revoked, the plugin disabled or removed, expired), at start
// or while it runs, it says so on stderr and exits 77 (lifecycle.go).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

const (
	pluginID = "go-hasher"
	version  = "1.0.0"
	taskType = "hash.sha256"

	// Inputs longer than one chunk are "long": hashed chunk by chunk with progress reports.
	chunkSize = 64 << 10
	// At most one progress report per task per this period (the core throttles again).
	progressEvery = 250 * time.Millisecond
	// Stretching checks for a cancel and reports progress every this many rounds.
	roundsStep = 1 << 16
	maxRounds  = 100_000_000
)

// Subjects, stream and consumer names (subjects.md).
var (
	// The BUS account's JetStream API as the plugin's account imports it.
	jsAPIPrefix = "$JS.BUS.API"
	controlSubj = "ctl." + pluginID
	tasksStream = "TASKS_" + pluginID
	// One consumer per task type (subjects.md): task_<plugin>_<type with "_" as "_u", "." as "_d">.
	tasksConsumer = "task_" + pluginID + "_" + strings.NewReplacer("_", "_u", ".", "_d").Replace(taskType)
	// The consumer's filter subject: nats.go 1.22 checks it when binding, so it must be given.
	tasksFilter = "task." + pluginID + "." + taskType
)

func resultSubject(taskID string) string      { return "res." + pluginID + "." + taskID }
func heartbeatSubject(instance string) string { return "hb." + pluginID + "." + instance }

// Headers of a task message (subjects.md).
const (
	hdrTaskID   = "Ganglion-Task-Id"
	hdrTaskType = "Ganglion-Task-Type"
	hdrAttempt  = "Ganglion-Attempt"
	hdrDeadline = "Ganglion-Deadline"
)

// report is what a worker publishes on res.<plugin>.<taskId> (RESULTS stream). The stream
// refuses a report over 1 MiB + 64 KiB (JetStream error 10054), and the core a result over 1 MiB
// (1,048,576 bytes, JSON-encoded): a worker with a larger result reports it failed with
// error.kind "invalid_result" and retryable false (subjects.md, "Size"). This worker's digests are
// small; keep large outputs elsewhere and return a reference.
type report struct {
	TaskID   string       `json:"taskId"`
	Attempt  int          `json:"attempt"`
	Instance string       `json:"instance"`
	Status   string       `json:"status"` // started | progress | completed | failed
	Delivery uint64       `json:"delivery,omitempty"`
	Result   interface{}  `json:"result,omitempty"`
	Error    *reportError `json:"error,omitempty"`
	Progress *progress    `json:"progress,omitempty"`
}

type reportError struct {
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

type progress struct {
	Done    int    `json:"done"`
	Total   int    `json:"total"`
	Message string `json:"message,omitempty"`
}

// heartbeat is what a worker publishes on hb.<plugin>.<instance> (core NATS).
type heartbeat struct {
	Instance string `json:"instance"`
	Version  string `json:"version"`
	InFlight int64  `json:"inFlight"`
	State    string `json:"state"` // running | stopping
	// The heartbeat period: the core records the instance offline after two of them of silence
	// (clamped to [2 s, 120 s]).
	IntervalMs int `json:"intervalMs,omitempty"`
}

// control is what the core sends on ctl.<plugin> to withdraw an attempt.
type control struct {
	Type    string `json:"type"`
	TaskID  string `json:"taskId"`
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason"`
}

// failure fails an attempt; retryable=false asks the core not to retry (bad params).
type failure struct {
	msg       string
	retryable bool
}

func (f *failure) Error() string { return f.msg }

type hashParams struct {
	Data     *string `json:"data"`
	Encoding string  `json:"encoding"`
	Rounds   *int    `json:"rounds"`
	Store    bool    `json:"store"` // artifacts.go: also put data as an artifact
}

type hashResult struct {
	SHA256   string `json:"sha256"`
	Bytes    int    `json:"bytes"`
	Artifact string `json:"artifact,omitempty"` // artifacts.go: the reference of the stored data
}

// decodeParams checks the params the way the manifest's schema does, then decodes data: the core
// already validated the schema, so what fails here is content (hex or base64 that does not decode).
func decodeParams(raw []byte) (data []byte, rounds int, err error) {
	var p hashParams
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, 0, &failure{"params: not an object of {data, encoding, rounds}: " + err.Error(), false}
	}
	if p.Data == nil {
		return nil, 0, &failure{"params.data: required", false}
	}
	rounds = 1
	if p.Rounds != nil {
		if *p.Rounds < 1 || *p.Rounds > maxRounds {
			return nil, 0, &failure{fmt.Sprintf("params.rounds: expected 1 to %d, got %d", maxRounds, *p.Rounds), false}
		}
		rounds = *p.Rounds
	}
	switch p.Encoding {
	case "", "utf8":
		return []byte(*p.Data), rounds, nil
	case "hex":
		b, err := hex.DecodeString(*p.Data)
		if err != nil {
			return nil, 0, &failure{"params.data: not valid hex: " + err.Error(), false}
		}
		return b, rounds, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(*p.Data)
		if err != nil {
			return nil, 0, &failure{"params.data: not valid base64: " + err.Error(), false}
		}
		return b, rounds, nil
	default:
		return nil, 0, &failure{fmt.Sprintf("params.encoding: expected utf8, hex or base64, got %q", p.Encoding), false}
	}
}

// hashTask runs hash.sha256; long inputs are hashed chunk by chunk and many rounds step by step,
// reporting progress and stopping when ctx is cancelled.
func hashTask(ctx context.Context, raw []byte, report func(done, total int, msg string)) (*hashResult, error) {
	data, rounds, err := decodeParams(raw)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	long := len(data) > chunkSize
	if long {
		report(0, len(data), "hashing")
	}
	for off := 0; off < len(data); off += chunkSize {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		end := off + chunkSize
		if end > len(data) {
			end = len(data)
		}
		h.Write(data[off:end])
		if long {
			report(end, len(data), "hashing")
		}
	}
	sum := h.Sum(nil)
	stretch := rounds > roundsStep
	for done := 1; done < rounds; done++ {
		d := sha256.Sum256(sum)
		sum = d[:]
		if stretch && done%roundsStep == 0 {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			report(done, rounds, "stretching")
		}
	}
	if stretch {
		report(rounds, rounds, "stretching")
	}
	return &hashResult{SHA256: hex.EncodeToString(sum), Bytes: len(data)}, nil
}

type running struct {
	attempt int
	cancel  context.CancelFunc
}

type worker struct {
	nc       *nats.Conn
	js       nats.JetStreamContext
	instance string
	log      *log.Logger
	inFlight int64
	hbPeriod int // ms, sent in heartbeats
	ackWait  time.Duration
	live     *live // secrets and config (live.go)

	mu      sync.Mutex
	running map[string]running
}

var nonToken = regexp.MustCompile(`[^a-z0-9_-]`)

// token makes a valid subject token of s (instance ids are the last token of hb.<plugin>.<instance>).
func token(s string) string {
	t := strings.TrimLeft(nonToken.ReplaceAllString(strings.ToLower(s), "-"), "-_")
	if t == "" {
		return "w"
	}
	return t
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// tlsOptions are the connection options GANGLION_TLS_CA, GANGLION_TLS_CERT and GANGLION_TLS_KEY
// ask for: none when all are empty; with a CA, TLS verifying the server against it; with a
// certificate and key, a client certificate for mutual TLS.
func tlsOptions(ca, cert, key string) ([]nats.Option, error) {
	var opts []nats.Option
	if ca != "" {
		if _, err := os.Stat(ca); err != nil {
			return nil, fmt.Errorf("GANGLION_TLS_CA %s: %v", ca, err)
		}
		opts = append(opts, nats.RootCAs(ca))
	}
	switch {
	case cert != "" && key != "":
		for _, f := range []string{cert, key} {
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("client certificate: %v", err)
			}
		}
		opts = append(opts, nats.ClientCert(cert, key))
	case cert != "" || key != "":
		return nil, errors.New("GANGLION_TLS_CERT and GANGLION_TLS_KEY go together: set both or neither")
	}
	return opts, nil
}

func main() {
	logger := log.New(os.Stderr, pluginID+": ", log.LstdFlags|log.Lmicroseconds)
	host, _ := os.Hostname()
	instance := token(env("WORKER_INSTANCE", fmt.Sprintf("%s-%d", host, os.Getpid())))
	hbPeriod, err := strconv.Atoi(env("HEARTBEAT_MS", "5000"))
	if err != nil || hbPeriod < 100 {
		logger.Fatalf("HEARTBEAT_MS must be a number of milliseconds >= 100, got %q", os.Getenv("HEARTBEAT_MS"))
	}
	creds := env("GANGLION_CREDS", "./"+pluginID+".creds")
	if _, err := os.Stat(creds); err != nil {
		logger.Fatalf("credentials %s: %v (mint them with: ganglion plugin creds %s -o FILE)", creds, err, pluginID)
	}

	tlsOpts, err := tlsOptions(os.Getenv("GANGLION_TLS_CA"), os.Getenv("GANGLION_TLS_CERT"), os.Getenv("GANGLION_TLS_KEY"))
	if err != nil {
		logger.Fatalf("%v", err)
	}

	stop, stopNow := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stopNow()
	lc := &lifecycle{stop: stopNow}
	var reconnected atomic.Pointer[live] // set once connected: the reconnect handler's catch-up

	// A user of the plugin's own account: no inbox prefix, replies come back across the account
	// boundary on subjects the server maps for us. nats.UserCredentials reads the file at every
	// (re)connect.
	opts := append([]nats.Option{
		nats.UserCredentials(creds),
		nats.Name(pluginID + ":" + instance),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { logger.Printf("connection error: %v", err) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { logger.Printf("disconnected: %v", err) }),
		nats.ReconnectHandler(func(*nats.Conn) {
			logger.Printf("reconnected")
			// Notices on ctl sent while we were away are lost: ask what is in force (live.go).
			if l := reconnected.Load(); l != nil {
				go l.catchUp()
			}
		}),
		nats.ClosedHandler(lc.closedHandler),
	}, tlsOpts...)
	nc, err := nats.Connect(env("NATS_URL", nats.DefaultURL), opts...)
	if isRefusal(err) {
		logger.Print(refusalMessage(err))
		os.Exit(exitRefused)
	}
	if err != nil {
		logger.Fatalf("connect: %v", err)
	}
	// The plugin's account has no JetStream: BUS's consumer API is imported under $JS.BUS.API, and
	// only this plugin's consumer (info, next, acks) is: no stream lookups, no $JS.API.INFO.
	js, err := nc.JetStream(nats.APIPrefix(jsAPIPrefix))
	if err != nil {
		logger.Fatalf("jetstream: %v", err)
	}
	w := &worker{nc: nc, js: js, instance: instance, log: logger, hbPeriod: hbPeriod, ackWait: 30 * time.Second, running: map[string]running{}}
	if w.live, err = newLive(nc, os.Getenv("GANGLION_SECRET"), func(f string, a ...any) { fmt.Printf(f, a...) }); err != nil {
		logger.Fatalf("curve key: %v", err)
	}
	reconnected.Store(w.live)

	if _, err := nc.Subscribe(controlSubj, w.onControl); err != nil {
		logger.Fatalf("subscribe %s: %v", controlSubj, err)
	}
	w.live.start()

	w.heartbeat("running")
	hbDone := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Duration(hbPeriod) * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				w.heartbeat("running")
			case <-hbDone:
				return
			}
		}
	}()

	sub, concurrency := w.bind(stop)
	var wg sync.WaitGroup
	if sub != nil {
		fmt.Printf("%s worker %s running\n", pluginID, instance)
		w.pull(stop, sub, concurrency, &wg)
	}

	// Stopping: running attempts finish (they are short; a hard stop after 30 s), then goodbye.
	logger.Printf("stopping")
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		w.cancelAll()
		<-finished
	}
	close(hbDone)
	if !nc.IsClosed() {
		w.heartbeat("stopping")
		closed := make(chan struct{})
		nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			nc.Close()
		}
	}
	logger.Printf("stopped")
	if err := lc.refusal(); err != nil {
		logger.Print(refusalMessage(err))
		os.Exit(exitRefused)
	}
}

// bind waits for the plugin's durable consumer (it exists, and the plugin's account imports it,
// once the plugin is approved and enabled) and binds to it; the concurrency is its
// max_ack_pending (the manifest's limit).
func (w *worker) bind(stop context.Context) (*nats.Subscription, int) {
	warned := false
	for stop.Err() == nil {
		// Look the consumer up first: nats.go 1.22 binds a pull subscription even when the lookup
		// finds no responder, which is what an account without the import (not approved yet,
		// disabled) gets, and the worker would then run on guessed settings, fetching nothing.
		ci, err := w.js.ConsumerInfo(tasksStream, tasksConsumer)
		var sub *nats.Subscription
		if err == nil {
			sub, err = w.js.PullSubscribe(tasksFilter, tasksConsumer, nats.Bind(tasksStream, tasksConsumer))
		}
		if err == nil {
			concurrency := 1
			if ci.Config.MaxAckPending > 0 {
				concurrency = ci.Config.MaxAckPending
			}
			if ci.Config.AckWait > 0 {
				w.ackWait = ci.Config.AckWait
			}
			return sub, concurrency
		}
		if !warned {
			w.log.Printf("consumer %s not available yet (is the plugin approved and enabled?): %v; retrying", tasksConsumer, err)
			warned = true
		}
		select {
		case <-stop.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil, 0
}

// pull fetches one task per free slot until stop; each task runs in its own goroutine.
func (w *worker) pull(stop context.Context, sub *nats.Subscription, concurrency int, wg *sync.WaitGroup) {
	slots := make(chan struct{}, concurrency)
	lastErr := ""
	for stop.Err() == nil {
		select {
		case <-stop.Done():
			return
		case slots <- struct{}{}:
		}
		msgs, err := sub.Fetch(1, nats.MaxWait(time.Second))
		if err != nil || len(msgs) == 0 {
			<-slots
			if err != nil && !errors.Is(err, nats.ErrTimeout) && stop.Err() == nil {
				// Logged once per distinct error: a long outage (revoked, server gone) must not flood the log.
				if err.Error() != lastErr {
					w.log.Printf("fetch: %v; retrying", err)
					lastErr = err.Error()
				}
				time.Sleep(500 * time.Millisecond)
			}
			continue
		}
		lastErr = ""
		m := msgs[0]
		if stop.Err() != nil {
			// Fetched while stopping: give it back at once for another instance.
			_ = m.Nak()
			<-slots
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			w.handle(m)
		}()
	}
}

func (w *worker) heartbeat(state string) {
	if w.nc.IsClosed() {
		return
	}
	b, _ := json.Marshal(heartbeat{Instance: w.instance, Version: version, InFlight: atomic.LoadInt64(&w.inFlight), State: state, IntervalMs: w.hbPeriod})
	if err := w.nc.Publish(heartbeatSubject(w.instance), b); err != nil {
		w.log.Printf("heartbeat: %v", err)
	}
}

func (w *worker) onControl(m *nats.Msg) {
	if w.live.onControl(m.Data) {
		return
	}
	var c control
	if err := json.Unmarshal(m.Data, &c); err != nil || c.Type != "cancel" {
		return
	}
	w.mu.Lock()
	r, ok := w.running[c.TaskID]
	w.mu.Unlock()
	if ok && r.attempt == c.Attempt {
		w.log.Printf("task %s attempt %d withdrawn by the core: %s", c.TaskID, c.Attempt, c.Reason)
		r.cancel()
	}
}

func (w *worker) cancelAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.running {
		r.cancel()
	}
}

// publish stores a report in RESULTS (a JetStream publish: the stream acknowledges it), retried a
// few times; the task message is acked only after its final report is stored.
func (w *worker) publish(r report) bool { return w.publishTries(r, 10) }

// publishTries stores a report with at most `tries` attempts (progress: one, it is only news).
func (w *worker) publishTries(r report, tries int) bool {
	b, err := json.Marshal(r)
	if err != nil {
		w.log.Printf("report %s: %v", r.TaskID, err)
		return false
	}
	for i := 1; i <= tries && !w.nc.IsClosed(); i++ {
		if _, err = w.js.Publish(resultSubject(r.TaskID), b, nats.AckWait(5*time.Second)); err == nil {
			return true
		}
		w.log.Printf("report %s %s not stored (try %d): %v", r.TaskID, r.Status, i, err)
		time.Sleep(time.Duration(i) * 250 * time.Millisecond)
	}
	return false
}

// handle runs one attempt: started, progress while it works, then completed or failed; ack last.
func (w *worker) handle(m *nats.Msg) {
	taskID := m.Header.Get(hdrTaskID)
	attempt, err := strconv.Atoi(m.Header.Get(hdrAttempt))
	if taskID == "" || err != nil || attempt < 1 {
		w.log.Printf("a task message on %s without task id or attempt; terminated", m.Subject)
		_ = m.Term()
		return
	}
	if d := m.Header.Get(hdrDeadline); d != "" {
		if at, err := time.Parse(time.RFC3339Nano, d); err == nil && time.Now().After(at) {
			_ = m.Term()
			return
		}
	}
	typ := m.Header.Get(hdrTaskType)
	if typ == "" {
		typ = strings.SplitN(m.Subject, ".", 3)[2]
	}
	delivery := uint64(1)
	if meta, err := m.Metadata(); err == nil {
		delivery = meta.NumDelivered
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.mu.Lock()
	w.running[taskID] = running{attempt: attempt, cancel: cancel}
	w.mu.Unlock()
	atomic.AddInt64(&w.inFlight, 1)
	defer func() {
		w.mu.Lock()
		delete(w.running, taskID)
		w.mu.Unlock()
		atomic.AddInt64(&w.inFlight, -1)
	}()

	base := report{TaskID: taskID, Attempt: attempt, Instance: w.instance}
	started := base
	started.Status, started.Delivery = "started", delivery
	if !w.publish(started) {
		_ = m.Nak()
		return
	}
	// Keep the message ours while we work: JetStream redelivers it after ack_wait otherwise.
	keepAlive := time.NewTicker(w.ackWait / 3)
	defer keepAlive.Stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-keepAlive.C:
				_ = m.InProgress()
			}
		}
	}()

	var last time.Time
	onProgress := func(done, total int, msg string) {
		if time.Since(last) < progressEvery && done < total {
			return
		}
		last = time.Now()
		_ = m.InProgress()
		p := base
		p.Status, p.Progress = "progress", &progress{Done: done, Total: total, Message: msg}
		w.publishTries(p, 1)
	}

	var result *hashResult
	if typ != taskType {
		err = &failure{fmt.Sprintf("instance %s has no handler for %s", w.instance, typ), true}
	} else {
		result, err = w.artifactHash(ctx, taskID, m.Data, onProgress)
	}
	if ctx.Err() != nil {
		// The core withdrew the attempt (cancelled, timed out) or we stop hard: no report.
		_ = m.Term()
		return
	}
	final := base
	if err != nil {
		retryable := true
		var f *failure
		if errors.As(err, &f) {
			retryable = f.retryable
		}
		w.log.Printf("task %s failed: %v", taskID, err)
		final.Status, final.Error = "failed", &reportError{Message: err.Error(), Retryable: retryable}
	} else {
		final.Status, final.Result = "completed", result
	}
	if w.publish(final) {
		_ = m.Ack()
	}
}
