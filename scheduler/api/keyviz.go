package api

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/regionkv/regionkv/scheduler/keyviz"
)

// keyViz answers GET /api/v1/keyviz: a heatmap of the key space over time.
//
//	metric      written-bytes (default), read-bytes, written-keys, read-keys
//	from, to    the time window, unix seconds or RFC 3339 (default: the
//	            history's whole retention, up to now); no longer than the
//	            retention (6 hours by default)
//	last        instead of from: the window is the last N seconds up to
//	            to (or now)
//	start-key   the key range, hex (default: all keys)
//	end-key
//	rows        the most rows of the answer (default 256, at most 2048)
//
// Bad parameters answer 400 with {"error": "..."}.
func (h *handler) keyViz(w http.ResponseWriter, r *http.Request, l Leader) {
	q, err := keyVizQuery(r)
	if err == nil {
		var m *keyviz.Matrix
		if m, err = l.KeyViz(q); err == nil {
			writeCompactJSON(w, http.StatusOK, keyVizView(m, l.KeyVizConfig()))
			return
		}
	}
	code := http.StatusInternalServerError
	if errors.Is(err, keyviz.ErrBadQuery) {
		code = http.StatusBadRequest
	}
	writeErr(w, code, err)
}

func keyVizQuery(r *http.Request) (keyviz.Query, error) {
	p := r.URL.Query()
	q := keyviz.Query{Metric: keyviz.WrittenBytes}
	var err error
	if s := p.Get("metric"); s != "" {
		if q.Metric, err = keyviz.ParseMetric(s); err != nil {
			return q, err
		}
	}
	if q.From, err = timeParam(p.Get("from"), "from"); err != nil {
		return q, err
	}
	if q.To, err = timeParam(p.Get("to"), "to"); err != nil {
		return q, err
	}
	if s := p.Get("last"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 || n > 1<<32 {
			return q, fmt.Errorf("%w: last must be a positive number of seconds, got %q", keyviz.ErrBadQuery, s)
		}
		q.Last = time.Duration(n) * time.Second
	}
	for _, k := range []struct {
		name string
		dst  *[]byte
	}{{"start-key", &q.StartKey}, {"end-key", &q.EndKey}} {
		if *k.dst, err = hex.DecodeString(p.Get(k.name)); err != nil {
			return q, fmt.Errorf("%w: %s must be hex: %v", keyviz.ErrBadQuery, k.name, err)
		}
	}
	if s := p.Get("rows"); s != "" {
		if q.Rows, err = strconv.Atoi(s); err != nil || q.Rows < 1 {
			return q, fmt.Errorf("%w: rows must be a positive number, got %q", keyviz.ErrBadQuery, s)
		}
	}
	return q, nil
}

// timeParam parses unix seconds or RFC 3339; empty is the zero time.
func timeParam(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 || n > 1<<40 {
			return time.Time{}, fmt.Errorf("%w: %s %d is out of range", keyviz.ErrBadQuery, name, n)
		}
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s must be unix seconds or RFC 3339, got %q", keyviz.ErrBadQuery, name, s)
	}
	return t, nil
}
