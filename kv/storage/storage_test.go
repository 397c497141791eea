package storage

import (
	"errors"
	"testing"

	"github.com/regionkv/regionkv/kv/engine"
)

func TestValidate(t *testing.T) {
	good := []Modify{
		NewPut("", []byte("k"), nil),
		NewPut(engine.CFLock, []byte("k"), []byte("v")),
		NewDelete(engine.CFWrite, []byte("k")),
		NewDeleteRange("", nil, nil),
		NewDeleteRange(engine.CFDefault, []byte("b"), []byte("a")), // empty range: a no-op
	}
	if err := Validate(good); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	for _, c := range []struct {
		m    Modify
		want error
	}{
		{NewPut("bogus", []byte("k"), nil), engine.ErrUnknownCF},
		{NewDelete("bogus", []byte("k")), engine.ErrUnknownCF},
		{NewDeleteRange("bogus", nil, nil), engine.ErrUnknownCF},
		{NewPut("", nil, []byte("v")), engine.ErrEmptyKey},
		{NewDelete("", []byte{}), engine.ErrEmptyKey},
		{nil, ErrInvalidModify},
	} {
		if err := Validate(append(good[:1:1], c.m)); !errors.Is(err, c.want) {
			t.Errorf("Validate(%#v) = %v, want %v", c.m, err, c.want)
		}
	}
	if got := NewDeleteRange(engine.CFLock, nil, nil).CF(); got != engine.CFLock {
		t.Errorf("CF() = %q", got)
	}
}
