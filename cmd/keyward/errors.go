package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
)

// flagRef names where the value of a JSON field came from on the command
// line: a flag (or argument) and, for a repeated flag, the values given, in
// the order of the field's list.
type flagRef struct {
	flag   string   // "--rate-limit", or "NAME" for an argument
	values []string // the values given; one for a single value
}

// fieldFlags maps the JSON fields of a verb's validation problems to its
// flags, for messages. A field not in it is shown as --<field>.
type fieldFlags map[string]flagRef

// problem renders one validation problem for people, naming the flag and,
// when it is known, the value it comes from:
//
//	rate_limits[1].period  →  --rate-limit "burst=10/0s": period must be ...
//	refill.interval        →  --refill: interval must be ...
func (ff fieldFlags) problem(p keyward.Problem) string {
	field, sub, _ := strings.Cut(p.Field, ".")
	base, index, indexed := strings.Cut(field, "[")
	msg := p.Message
	if sub != "" {
		msg = sub + " " + msg
	}
	ref, ok := ff[base]
	if !ok {
		return "--" + strings.ReplaceAll(base, "_", "-") + ": " + msg
	}
	i := 0
	if indexed {
		n, err := strconv.Atoi(strings.TrimSuffix(index, "]"))
		if err != nil {
			return ref.flag + ": " + msg
		}
		i = n
	} else if len(ref.values) != 1 {
		return ref.flag + ": " + msg
	}
	if i < 0 || i >= len(ref.values) {
		return ref.flag + ": " + msg
	}
	return fmt.Sprintf("%s %q: %s", ref.flag, ref.values[i], msg)
}

// roleHint points a missing role at the CLI verb that creates it rather
// than at the HTTP API.
var roleHint = regexp.MustCompile(`\(PUT /v1/roles/([^)]*)\)`)

// cliError maps the Service's errors to messages for people: a
// *keyward.ValidationError becomes bad usage listing each problem with its
// flag, and ErrNotFound and ErrConflict name what v works on.
func cliError(err error, v verb) error {
	var ve *keyward.ValidationError
	if errors.As(err, &ve) {
		lines := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			lines[i] = roleHint.ReplaceAllString(v.fields.problem(p), "(keyward roles put $1)")
		}
		return &usageError{msg: "invalid input:\n  " + strings.Join(lines, "\n  ")}
	}
	if v.id == "" {
		return err
	}
	switch v.kind {
	case kindOwner:
		if errors.Is(err, keyward.ErrNotFound) {
			return fmt.Errorf("no owner named %q", v.id)
		}
	case kindRole:
		return roleError(err, v.id)
	default:
		switch {
		case errors.Is(err, keyward.ErrNotFound):
			return fmt.Errorf("no key with id %q", v.id)
		case errors.Is(err, keyward.ErrConflict):
			return fmt.Errorf("key %s: %s", v.id, strings.TrimPrefix(err.Error(), "keyward: key "+v.id+" "))
		}
	}
	return err
}

// roleHolder finds the key a store names in its refusal to delete a role.
var roleHolder = regexp.MustCompile(`key ([0-9A-Za-z]{16}) has it`)

// roleError maps the errors of the roles verbs on the role named name.
func roleError(err error, name string) error {
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return fmt.Errorf("no role named %q", name)
	case errors.Is(err, keyward.ErrConflict):
		which := "a key"
		if m := roleHolder.FindStringSubmatch(err.Error()); m != nil {
			which = "key " + m[1] + " (and maybe others)"
		}
		return fmt.Errorf("role %q is not deleted: %s still has it; take it off every key first (keyward keys update ID --role ... or --no-roles)", name, which)
	}
	return err
}
