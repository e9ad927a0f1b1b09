package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// POST /v1/leaks/github: the endpoint of GitHub's secret scanning partner
// program. GitHub POSTs the strings it found in public code that match the
// pattern registered for keyward's keys, signed with ECDSA P-256 over
// SHA-256 of the raw body; the answer labels each one.

// LeakConfig turns on POST /v1/leaks/github. Without one, it answers 404.
type LeakConfig struct {
	// Keys are the reporter's public keys by key identifier, as
	// [ParseGitHubKeys] reads them.
	Keys map[string]*ecdsa.PublicKey
	// Action is done to a live key a report matches; "" means
	// keyward.LeakRevoke.
	Action keyward.LeakAction
}

// leakPath is the path of the endpoint.
const leakPath = "/v1/leaks/github"

// Headers of a report, signed by GitHub.
const (
	headerLeakKeyID     = "Github-Public-Key-Identifier"
	headerLeakSignature = "Github-Public-Key-Signature"
)

// ParseGitHubKeys reads the public keys of GitHub's secret scanning (the
// document at https://api.github.com/meta/public_keys/secret_scanning,
// {"public_keys": [{"key_identifier", "key", "is_current"}]}, each key a
// PEM "PUBLIC KEY" of ECDSA P-256). Every key listed is accepted, current
// or not: GitHub names the one it signed with.
func ParseGitHubKeys(doc []byte) (map[string]*ecdsa.PublicKey, error) {
	var d struct {
		PublicKeys []struct {
			KeyIdentifier string `json:"key_identifier"`
			Key           string `json:"key"`
			IsCurrent     bool   `json:"is_current"`
		} `json:"public_keys"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("server: the key document is not the JSON GitHub publishes: %w", err)
	}
	if len(d.PublicKeys) == 0 {
		return nil, errors.New(`server: the key document lists no keys: want {"public_keys": [{"key_identifier", "key", "is_current"}]}`)
	}
	keys := make(map[string]*ecdsa.PublicKey, len(d.PublicKeys))
	for i, k := range d.PublicKeys {
		if k.KeyIdentifier == "" {
			return nil, fmt.Errorf("server: public_keys[%d] has no key_identifier", i)
		}
		if _, dup := keys[k.KeyIdentifier]; dup {
			return nil, fmt.Errorf("server: key_identifier %s is listed twice", k.KeyIdentifier)
		}
		pub, err := parseP256(k.Key)
		if err != nil {
			return nil, fmt.Errorf("server: public_keys[%d] (%s): %w", i, k.KeyIdentifier, err)
		}
		keys[k.KeyIdentifier] = pub
	}
	return keys, nil
}

// parseP256 parses a PEM public key of ECDSA P-256.
func parseP256(p string) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errors.New("key is not a PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("key is not an ECDSA P-256 public key")
	}
	return ec, nil
}

// leakRoutes is the route of the endpoint. It takes no bearer credential:
// the signature is the credential, checked by the handler.
func (s *Server) leakRoutes() []route {
	return []route{{
		"report-github-leaks", http.MethodPost, leakPath, "Leaked keys reported by GitHub secret scanning",
		"The endpoint of GitHub's secret scanning partner program. The report is signed with ECDSA P-256 over SHA-256 of the raw body " +
			"(headers Github-Public-Key-Identifier and Github-Public-Key-Signature, base64 DER) with a key of the document given to " +
			"keyward serve --leak-public-keys; without that flag the endpoint answers 404, and a bad or missing signature 401. " +
			"A token that is a live key of this deployment (its whole string: a forged string carrying a real key's id is no match) gets " +
			"--leak-action (revoke, disable or report), an audit entry key.leak by leak-report and a key.leaked event. " +
			"The answer labels each token, identified by the hex SHA-256 of the token, never the token.",
		"leaks", "", 0, true, []int{400, 401, 404, 413, 422, 503}, s.registerLeaks,
	}}
}

// registerLeaks registers the endpoint and documents its body, which huma
// shows as a binary string (a RawBody): an array, never null, of tokens
// that may carry more members than these (they are ignored).
func (s *Server) registerLeaks(a huma.API, op huma.Operation) {
	op.SkipValidateBody = true // the handler checks the signature first, then the body
	huma.Register(a, op, s.reportLeaks)
	reg := a.OpenAPI().Components.Schemas
	req := reg.Schema(reflect.TypeFor[[]api.LeakToken](), true, "")
	req.Nullable, req.MaxItems = false, ptr(api.MaxLeakTokens)
	reg.Map()["LeakToken"].AdditionalProperties = true
	post := a.OpenAPI().Paths[leakPath].Post
	post.RequestBody.Content = map[string]*huma.MediaType{"application/json": {Schema: req}}
	post.Responses["200"].Content["application/json"].Schema.Nullable = false
}

type leakInput struct {
	KeyID     string `header:"Github-Public-Key-Identifier" doc:"The key_identifier of the key that signed the body."`
	Signature string `header:"Github-Public-Key-Signature" doc:"Base64 of the DER ECDSA P-256 signature of SHA-256 of the raw body."`
	RawBody   []byte `contentType:"application/json"`
	req       *http.Request
}

// Resolve keeps the request, for its client address.
func (in *leakInput) Resolve(ctx huma.Context) []error {
	in.req, _ = humago.Unwrap(ctx)
	return nil
}

// verify checks the report's signature; it returns the problem to answer
// when it fails.
func (l *LeakConfig) verify(in *leakInput) *problem {
	if in.KeyID == "" || in.Signature == "" {
		return newProblem(http.StatusUnauthorized, "", "a report needs the headers "+headerLeakKeyID+" and "+headerLeakSignature)
	}
	pub, ok := l.Keys[in.KeyID]
	if !ok {
		return newProblem(http.StatusUnauthorized, "", "the report is signed with a key this server does not know")
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(in.Signature))
	digest := sha256.Sum256(in.RawBody)
	if err != nil || !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return newProblem(http.StatusUnauthorized, "", "the signature of the report does not match its body")
	}
	return nil
}

// parseLeakReport reads the body of a report.
func parseLeakReport(raw []byte) ([]api.LeakToken, *problem) {
	var tokens []api.LeakToken
	if err := json.Unmarshal(raw, &tokens); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || len(raw) == 0 {
			return nil, newProblem(http.StatusBadRequest, "", "the request body is not valid JSON")
		}
		return nil, newProblem(http.StatusUnprocessableEntity, api.CodeValidationFailed, "the request breaks the rules listed in errors",
			api.ProblemDetail{Location: "body", Message: `must be an array of {"token", "type", "url", "source"}`})
	}
	if len(tokens) > api.MaxLeakTokens {
		return nil, newProblem(http.StatusUnprocessableEntity, api.CodeValidationFailed, "the request breaks the rules listed in errors",
			api.ProblemDetail{Location: "body", Message: fmt.Sprintf("at most %d tokens in one report", api.MaxLeakTokens)})
	}
	return tokens, nil
}

func (s *Server) reportLeaks(ctx context.Context, in *leakInput) (*body[[]api.LeakLabel], error) {
	if s.leaks == nil {
		return nil, newProblem(http.StatusNotFound, "", "leak reports are not configured on this server (keyward serve --leak-public-keys)")
	}
	if p := s.leaks.verify(in); p != nil {
		return nil, p
	}
	tokens, p := parseLeakReport(in.RawBody)
	if p != nil {
		return nil, p
	}
	actor := keyward.Actor{ID: keyward.ActorLeakReport}
	if in.req != nil {
		if ip := s.clientIP(in.req); ip.IsValid() {
			actor.ClientIP = ip.String()
		}
	}
	ctx = keyward.NewActorContext(ctx, actor)
	labels := make([]api.LeakLabel, len(tokens))
	seen := make(map[string]bool, len(tokens)) // token hash → match
	for i, t := range tokens {
		sum := sha256.Sum256([]byte(t.Token))
		h := hex.EncodeToString(sum[:])
		match, done := seen[h]
		if !done {
			out, err := s.svc.ReportLeak(ctx, keyward.LeakReport{Token: t.Token, Source: t.Source, URL: t.URL, Action: s.leaks.Action})
			if err != nil {
				return nil, s.errs.problemOf(err, subject{field: under("body"), notFound: "not found"})
			}
			match, seen[h] = out.Match, out.Match
			if out.Match {
				s.log.Warn("leaked key reported", "key_id", out.Key.ID, "action", string(out.Action), "source", t.Source, "url", t.URL)
			}
		}
		labels[i] = api.LeakLabel{TokenHash: h, TokenType: t.Type, Label: api.LabelFalsePositive}
		if match {
			labels[i].Label = api.LabelTruePositive
		}
	}
	return &body[[]api.LeakLabel]{Body: labels}, nil
}
