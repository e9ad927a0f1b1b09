package keyward

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// verifyLegacy verifies a key string that is not a native key: if it is in
// one of the legacy formats recorded in the store, as the key of the id that
// format gives, else MALFORMED. A MALFORMED answer makes no key lookup; the
// formats themselves are read at most once per refresh interval.
func (s *Service) verifyLegacy(ctx context.Context, req *VerifyRequest, r *Result, start time.Time, cost int64) error {
	set, err := s.legacyFormats(ctx)
	if err != nil {
		return fmt.Errorf("keyward: verifying key: %w", err)
	}
	f, id, secret, ok := set.parse(req.Key)
	if !ok {
		s.finish(r, OutcomeMalformed)
		return nil
	}
	return s.verifyKey(ctx, req, r, start, cost, Token{ID: id, Secret: secret}, f)
}

// checkLegacyDummy makes a presentation in format f that failed cost what a
// wrong secret on a key still holding its imported hash costs: unless the
// hash just compared (hash; "" for an unknown id) is of the scheme of the
// format's dummy, the secret is compared with the dummy too.
func (s *Service) checkLegacyDummy(f *LegacyFormat, hash, secret string) {
	if f.Dummy == "" || hashScheme(hash) == hashScheme(f.Dummy) {
		return
	}
	s.hasher.Verify(secret, f.Dummy)
}

// hashScheme returns the scheme name of a self-describing hash string: what
// lies between its first two '$'.
func hashScheme(h string) string {
	if !strings.HasPrefix(h, "$") {
		return ""
	}
	name, _, _ := strings.Cut(h[1:], "$")
	return name
}
