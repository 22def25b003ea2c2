package main

// Artifacts over the wire contract alone (subjects.md, "Artifacts"): large inputs and results live
// in the bus's object store, named by their SHA-256; params and results carry artifact://<sha256>.
// The plugin's account has no JetStream of its own, so every byte goes through the core:
//
//   - write: JetStream-publish chunks of exactly 128 KiB (the last shorter) on artup.<upload>, each
//     with headers Ganglion-Chunk (index) and Ganglion-Chunk-Sha256, then request art.put;
//   - read: request art.get for one chunk at a time, passing back Ganglion-Cursor, checking every
//     chunk against Ganglion-Chunk-Sha256 and the whole against the id.
//
// hash.sha256 uses both: encoding "artifact" hashes the bytes of the artifact named in data (read
// as a stream, never all in memory), and store: true also puts the decoded data as an artifact and
// returns its reference in the result's "artifact".

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

const artifactChunk = 128 << 10

var artifactRef = regexp.MustCompile(`^artifact://([0-9a-f]{64})$`)

type artifactError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *artifactError) Error() string { return e.Code + ": " + e.Message }

// putArtifact stores everything r yields and answers its reference.
func putArtifact(nc *nats.Conn, js nats.JetStreamContext, r io.Reader, contentType, taskID string) (string, error) {
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return "", err
	}
	upload := hex.EncodeToString(id)
	whole := sha256.New()
	buf := make([]byte, artifactChunk)
	size, chunks := 0, 0
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			sum := sha256.Sum256(buf[:n])
			whole.Write(buf[:n])
			m := nats.NewMsg("artup." + upload)
			m.Data = buf[:n]
			m.Header.Set("Ganglion-Chunk", strconv.Itoa(chunks))
			m.Header.Set("Ganglion-Chunk-Sha256", hex.EncodeToString(sum[:]))
			if _, perr := js.PublishMsg(m, nats.AckWait(30*time.Second)); perr != nil {
				return "", fmt.Errorf("artifact chunk %d: %w", chunks, perr)
			}
			size += n
			chunks++
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	req, _ := json.Marshal(map[string]any{
		"upload": upload, "sha256": hex.EncodeToString(whole.Sum(nil)), "size": size, "chunks": chunks,
		"contentType": contentType, "taskId": taskID,
	})
	// The core copies every chunk before it answers: a minute, plus a second per MiB.
	reply, err := nc.Request("art.put", req, time.Minute+time.Duration(size>>20)*time.Second)
	if err != nil {
		return "", fmt.Errorf("art.put: %w", err)
	}
	var r2 struct {
		OK     bool `json:"ok"`
		Result struct {
			Ref string `json:"ref"`
		} `json:"result"`
		Error *artifactError `json:"error"`
	}
	if err := json.Unmarshal(reply.Data, &r2); err != nil {
		return "", fmt.Errorf("art.put: %w", err)
	}
	if !r2.OK || r2.Error != nil {
		return "", r2.Error
	}
	return r2.Result.Ref, nil
}

// readArtifact writes the bytes of ref to w, chunk by chunk, each checked; taskID names the task
// whose params reference it (what lets this plugin read an artifact it did not make).
func readArtifact(ctx context.Context, nc *nats.Conn, ref, taskID string, w io.Writer) (int, error) {
	m := artifactRef.FindStringSubmatch(ref)
	if m == nil {
		return 0, &failure{fmt.Sprintf("params.data: %q is not artifact://<sha256>", ref), false}
	}
	id := m[1]
	whole := sha256.New()
	size, total := 0, 1
	var cursor *int64
	for i := 0; i < total; i++ {
		if ctx.Err() != nil {
			return size, ctx.Err()
		}
		body := map[string]any{"id": id, "chunk": i, "taskId": taskID}
		if cursor != nil {
			body["cursor"] = *cursor
		}
		req, _ := json.Marshal(body)
		reply, err := nc.Request("art.get", req, 30*time.Second)
		if err != nil {
			return size, fmt.Errorf("art.get chunk %d: %w", i, err)
		}
		if code := reply.Header.Get("Ganglion-Error"); code != "" {
			var e struct {
				Error artifactError `json:"error"`
			}
			_ = json.Unmarshal(reply.Data, &e)
			return size, &failure{fmt.Sprintf("artifact %s chunk %d: %s: %s", id, i, code, e.Error.Message), code == "Unavailable"}
		}
		sum := sha256.Sum256(reply.Data)
		if hex.EncodeToString(sum[:]) != reply.Header.Get("Ganglion-Chunk-Sha256") {
			return size, &failure{fmt.Sprintf("artifact %s chunk %d does not match its SHA-256", id, i), true}
		}
		if total, err = strconv.Atoi(reply.Header.Get("Ganglion-Chunks")); err != nil {
			return size, errors.New("art.get: no Ganglion-Chunks header")
		}
		next, err := strconv.ParseInt(reply.Header.Get("Ganglion-Cursor"), 10, 64)
		if err != nil {
			return size, errors.New("art.get: no Ganglion-Cursor header")
		}
		cursor = &next
		whole.Write(reply.Data)
		if _, err := w.Write(reply.Data); err != nil {
			return size, err
		}
		size += len(reply.Data)
	}
	if got := hex.EncodeToString(whole.Sum(nil)); got != id {
		return size, &failure{fmt.Sprintf("artifact %s: the bytes read hash to %s", id, got), true}
	}
	return size, nil
}

// artifactHash runs hash.sha256 when the params involve artifacts, and hashTask otherwise.
func (w *worker) artifactHash(ctx context.Context, taskID string, raw []byte, report func(done, total int, msg string)) (*hashResult, error) {
	var p struct {
		Data     *string `json:"data"`
		Encoding string  `json:"encoding"`
		Rounds   *int    `json:"rounds"`
		Store    bool    `json:"store"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.Data == nil {
		return hashTask(ctx, raw, report) // refuses it, naming the path
	}
	if p.Encoding == "artifact" {
		if p.Rounds != nil && *p.Rounds != 1 || p.Store {
			return nil, &failure{"params: rounds and store do not apply to encoding artifact", false}
		}
		h := sha256.New()
		n, err := readArtifact(ctx, w.nc, *p.Data, taskID, progressWriter{h, report, new(int)})
		if err != nil {
			return nil, err
		}
		return &hashResult{SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n}, nil
	}
	r, err := hashTask(ctx, raw, report)
	if err != nil || !p.Store {
		return r, err
	}
	data, _, _ := decodeParams(raw)
	ref, err := putArtifact(w.nc, w.js, bytes.NewReader(data), "application/octet-stream", taskID)
	if err != nil {
		return nil, err
	}
	r.Artifact = ref
	return r, nil
}

// progressWriter hashes what it is given and keeps the attempt alive (a progress report per chunk, throttled).
type progressWriter struct {
	h      hash.Hash
	report func(done, total int, msg string)
	done   *int
}

func (p progressWriter) Write(b []byte) (int, error) {
	p.h.Write(b)
	*p.done += len(b)
	p.report(*p.done, *p.done+1, "reading the artifact")
	return len(b), nil
}
