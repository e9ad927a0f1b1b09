package server

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// Request bodies are decoded twice by huma: into an any, which its validator
// checks against the schema, then into the operation's Go type. decodeJSON
// is huma's JSON decoder in keyward: before the second pass it checks what
// the schema cannot and encoding/json would let through or report in Go's
// words:
//
//   - invalid UTF-8 in a string (encoding/json replaces it with U+FFFD, so
//     a name would silently change);
//   - null where the contract gives it no meaning (encoding/json leaves the
//     field as it was, so "name": null in a PATCH would silently do
//     nothing): null is allowed only where the schema is nullable, that is
//     for the keyward.Nullable fields;
//   - integers the Go type cannot hold (1e30 for an int64), which
//     encoding/json reports naming Go structs and types, and durations
//     past time.Duration's range, which it reports with no location.
//
// Each problem is located by its JSON path (body.rate_limits[1].limit) and
// never repeats the value.
func decodeJSON(data []byte, v any) error {
	if _, generic := v.(*any); generic {
		return json.Unmarshal(data, v) // huma's validation pass
	}
	c := bodyChecker{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	c.dec.UseNumber()
	if err := c.value("body", reflect.TypeOf(v)); err != nil {
		return err // not JSON: the first pass has said so already
	}
	if len(c.probs) > 0 {
		return c.probs
	}
	err := json.Unmarshal(data, v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) { // a case the checker does not know: locate it by field names
		loc := "body"
		if te.Field != "" {
			loc += "." + te.Field
		}
		return bodyProblems{{Location: loc, Message: "must be " + kindOf(te.Type)}}
	}
	return err
}

// bodyProblems is the error of decodeJSON's checks; newHumaError turns it
// back into the problem's details (huma passes it on as a message only).
type bodyProblems []api.ProblemDetail

const bodyProblemsMark = "keyward body problems: "

func (p bodyProblems) Error() string {
	b, _ := json.Marshal([]api.ProblemDetail(p))
	return bodyProblemsMark + string(b)
}

// asBodyProblems returns the details of a huma error detail that carries
// bodyProblems.
func asBodyProblems(ed *huma.ErrorDetail) ([]api.ProblemDetail, bool) {
	rest, ok := strings.CutPrefix(ed.Message, bodyProblemsMark)
	if !ok {
		return nil, false
	}
	var details []api.ProblemDetail
	return details, json.Unmarshal([]byte(rest), &details) == nil
}

type bodyChecker struct {
	dec   *json.Decoder
	data  []byte
	probs bodyProblems
}

func (c *bodyChecker) add(path, msg string) {
	if len(c.probs) < 20 {
		c.probs = append(c.probs, api.ProblemDetail{Location: path, Message: msg})
	}
}

// value checks the JSON value at path against the Go type t (nil: any
// value, not checked further).
func (c *bodyChecker) value(path string, t reflect.Type) error {
	start := c.dec.InputOffset()
	tok, err := c.dec.Token()
	if err != nil {
		return err
	}
	t, nullOK := deref(t)
	switch tok := tok.(type) {
	case nil:
		if t != nil && !nullOK {
			c.add(path, "must not be null: leave the member out instead")
		}
	case string:
		if !utf8.Valid(c.data[start:c.dec.InputOffset()]) {
			c.add(path, "must be valid UTF-8")
		} else if t != nil {
			c.text(path, t, tok)
		}
	case json.Number:
		if t != nil {
			c.number(path, t, tok.String())
		}
	case json.Delim:
		return c.container(path, t, tok)
	}
	return nil
}

// container checks the members of an object or the items of an array.
func (c *bodyChecker) container(path string, t reflect.Type, open json.Delim) error {
	for i := 0; c.dec.More(); i++ {
		if open == '[' {
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			if err := c.value(fmt.Sprintf("%s[%d]", path, i), elem); err != nil {
				return err
			}
			continue
		}
		start := c.dec.InputOffset()
		tok, err := c.dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		if !utf8.Valid(c.data[start:c.dec.InputOffset()]) {
			c.add(path, "member names must be valid UTF-8")
			name = "?"
		}
		if err := c.value(path+"."+name, fieldType(t, name)); err != nil {
			return err
		}
	}
	_, err := c.dec.Token() // the closing delimiter
	return err
}

// number checks that the literal n fits the integer type t.
func (c *bodyChecker) number(path string, t reflect.Type, n string) {
	var err error
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		_, err = strconv.ParseInt(n, 10, t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, err = strconv.ParseUint(n, 10, t.Bits())
	default:
		return
	}
	if err != nil {
		c.add(path, "must be "+kindOf(t))
	}
}

// text checks that s decodes into t, when t decodes text itself (a
// keyward.Duration: the schema's pattern lets "99999999999h" through, which
// overflows).
func (c *bodyChecker) text(path string, t reflect.Type, s string) {
	u, ok := reflect.New(t).Interface().(encoding.TextUnmarshaler)
	if !ok || u.UnmarshalText([]byte(s)) == nil {
		return
	}
	msg := "is not a valid value"
	switch t {
	case reflect.TypeFor[keyward.Duration]():
		msg = "must be a Go duration (like 90s or 720h) of at most 2562047h"
	case reflect.TypeFor[time.Time]():
		msg = "must be an RFC 3339 date-time"
	}
	c.add(path, msg)
}

// kindOf says what a value of type t must be, in JSON's words.
func kindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		return fmt.Sprintf("a whole number from %d to %d", int64(-1)<<(bits-1), int64(math.MaxInt64>>(64-bits)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(math.MaxUint64>>(64-t.Bits())))
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

var rawMessage = reflect.TypeFor[json.RawMessage]()

// deref returns the type a JSON value at a field of type t decodes into
// (nil when anything goes: free-form JSON), and whether null is allowed
// there: only for keyward.Nullable.
func deref(t reflect.Type) (reflect.Type, bool) {
	if t == nil {
		return nil, true
	}
	nullOK := false
	for {
		switch {
		case t.Kind() == reflect.Pointer:
			t = t.Elem()
			continue
		case isNullable(t):
			f, _ := t.FieldByName("Value")
			t, nullOK = f.Type.Elem(), true
			continue
		}
		break
	}
	if t == rawMessage || t.Kind() == reflect.Interface || t.Kind() == reflect.Map {
		return nil, true
	}
	return t, nullOK
}

// isNullable reports whether t is a keyward.Nullable[T].
func isNullable(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.PkgPath() == "github.com/keyward/keyward" && strings.HasPrefix(t.Name(), "Nullable[")
}

// fieldTypes caches the JSON members of struct types.
var fieldTypes sync.Map // reflect.Type -> map[string]reflect.Type

// fieldType returns the type of the member name of struct type t, or nil.
func fieldType(t reflect.Type, name string) reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	cached, ok := fieldTypes.Load(t)
	if !ok {
		m := map[string]reflect.Type{}
		addFields(t, m)
		cached, _ = fieldTypes.LoadOrStore(t, m)
	}
	m := cached.(map[string]reflect.Type)
	if ft, ok := m[name]; ok {
		return ft
	}
	for n, ft := range m { // encoding/json matches names without regard to case
		if strings.EqualFold(n, name) {
			return ft
		}
	}
	return nil
}

// addFields adds the JSON members of struct type t to m, those of its
// embedded structs included, as encoding/json sees them.
func addFields(t reflect.Type, m map[string]reflect.Type) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if ft, _ := deref(f.Type); ft != nil && ft.Kind() == reflect.Struct {
				addFields(ft, m)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, ok := m[name]; !ok {
			m[name] = f.Type
		}
	}
}
