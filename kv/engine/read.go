package engine

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v3"
)

// Unmarshaler is what GetMeta needs of a message; every gogo-generated
// message has it.
type Unmarshaler interface {
	Unmarshal(dAtA []byte) error
}

// GetCF reads the latest value of key in column family cf ("" = default).
// A missing key returns (nil, nil). The value is a fresh copy.
func GetCF(db *badger.DB, cf string, key []byte) (val []byte, err error) {
	err = db.View(func(txn *badger.Txn) error {
		val, err = GetCFTxn(txn, cf, key)
		return err
	})
	return val, err
}

// GetCFTxn is GetCF within a transaction (a snapshot's, or a caller's).
func GetCFTxn(txn *badger.Txn, cf string, key []byte) ([]byte, error) {
	k, err := DataKey(cf, key)
	if err != nil {
		return nil, err
	}
	return getTxn(txn, k)
}

// GetRaw reads an internal key; (nil, nil) if missing.
func GetRaw(db *badger.DB, key []byte) (val []byte, err error) {
	err = db.View(func(txn *badger.Txn) error {
		val, err = getTxn(txn, key)
		return err
	})
	return val, err
}

// GetMeta unmarshals the message stored under an internal key into msg. It
// returns false, and leaves msg alone, when the key is missing.
func GetMeta(db *badger.DB, key []byte, msg Unmarshaler) (found bool, err error) {
	err = db.View(func(txn *badger.Txn) error {
		found, err = GetMetaTxn(txn, key, msg)
		return err
	})
	return found, err
}

// GetMetaTxn is GetMeta within a transaction.
func GetMetaTxn(txn *badger.Txn, key []byte, msg Unmarshaler) (bool, error) {
	val, err := getTxn(txn, key)
	if err != nil || val == nil {
		return false, err
	}
	if err := msg.Unmarshal(val); err != nil {
		return false, fmt.Errorf("engine: unmarshal meta %x: %w", key, err)
	}
	return true, nil
}

func getTxn(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("engine: get: %w", err)
	}
	val, err := item.ValueCopy(nil)
	if err != nil {
		return nil, fmt.Errorf("engine: read value: %w", err)
	}
	if val == nil {
		// A present key with an empty value must not read as missing.
		val = []byte{}
	}
	return val, nil
}
