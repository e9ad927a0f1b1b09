package keyward

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Compare with errors.Is: stores and the Service wrap them
// with context.
var (
	// ErrNotFound: no key (or audit entry) has that id.
	ErrNotFound = errors.New("keyward: not found")
	// ErrConflict: the write contradicts the current state (an id that is
	// taken, a revoked key changed, a key rotated twice).
	ErrConflict = errors.New("keyward: conflict")
	// ErrMalformed: a string is not a well-formed key (see [Parse]).
	ErrMalformed = errors.New("keyward: malformed key")
	// ErrInvalid: input breaks a rule; the error is a *[ValidationError].
	ErrInvalid = errors.New("keyward: invalid input")
	// ErrUnavailable: the store cannot be reached. Verification answers it
	// with 503, never with a success.
	ErrUnavailable = errors.New("keyward: store unavailable")
	// ErrNoLimiter: a key has a rate limit but the Service has no Limiter.
	ErrNoLimiter = errors.New("keyward: key has a rate limit but no limiter is configured")
	// ErrSchemaTooNew: the database was migrated by a newer keyward; this
	// binary refuses to touch it.
	ErrSchemaTooNew = errors.New("keyward: database schema is newer than this binary")
	// ErrClosed: the Service or store was closed.
	ErrClosed = errors.New("keyward: closed")
	// ErrUnsupported: a Store does not offer an optional part of the
	// [Store] contract (each method says which may answer it). It matches
	// errors.ErrUnsupported too.
	ErrUnsupported = fmt.Errorf("keyward: not supported by this store: %w", errors.ErrUnsupported)
)

// Problem is one broken rule: the field it concerns (a JSON name, "" for the
// whole input) and what is wrong with it.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in one input. It matches
// [ErrInvalid] with errors.Is.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("keyward: invalid input: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		if p.Field != "" {
			b.WriteString(p.Field)
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// invalid returns a ValidationError with a single problem.
func invalid(field, msg string) error {
	return &ValidationError{Problems: []Problem{{Field: field, Message: msg}}}
}

// problems collects validation problems; err returns nil when there are none.
type problems []Problem

func (p *problems) add(field, msg string) { *p = append(*p, Problem{Field: field, Message: msg}) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// stateError is a conflict with the state of a key (revoked, already
// rotated), as opposed to an id collision. It matches ErrConflict.
type stateError struct{ msg string }

func (e *stateError) Error() string        { return "keyward: " + e.msg + ": conflict" }
func (e *stateError) Is(target error) bool { return target == ErrConflict }
