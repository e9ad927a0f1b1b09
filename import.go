package keyward

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ImportResult counts what an import did.
type ImportResult struct {
	Created int `json:"created"`
	Skipped int `json:"skipped"` // ids that exist already
}

// ValidateImport checks a key record brought from another keyward (an
// export with hashes): the id, prefix and hash must be there, and the fields
// must follow the same rules as a created key. It fills defaults (empty
// lists, {} metadata, times) and returns a *ValidationError naming each
// problem. The maximum key lifetime of the [Policy] is checked by
// [Service.Import], which reads it from the store.
func (s *Service) ValidateImport(k *Key) error {
	var probs problems
	if !ValidID(k.ID) {
		probs.add("id", "must be 16 base62 characters")
	}
	if !validPrefix(k.Prefix) {
		probs.add("prefix", "must match [a-z][a-z0-9_]{0,19}")
	}
	if !strings.HasPrefix(k.Hash, "$") || len(k.Hash) > 1024 {
		probs.add("hash", "must be a hash string exported by keyward (export with --with-hashes)")
	}
	f := keyFields{
		name: k.Name, description: k.Description, owner: k.Owner, scopes: k.Scopes,
		metadata: k.Metadata, rateLimit: k.RateLimit, rateLimits: importedLimits(k),
		roles: k.Roles, remaining: k.Remaining, refill: k.Refill,
		cidrs: append([]string(nil), k.AllowedCIDRs...),
	}
	f.validate(&probs)
	if err := probs.err(); err != nil {
		return err
	}
	k.Name, k.Description, k.Owner, k.Scopes, k.Metadata = f.name, f.description, f.owner, f.scopes, f.metadata
	k.AllowedCIDRs, k.Roles = f.cidrs, f.roles
	k.RateLimits, k.RateLimit = f.limits()
	now := s.Now()
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now
	}
	if k.UpdatedAt.IsZero() {
		k.UpdatedAt = k.CreatedAt
	}
	for _, t := range []*time.Time{&k.CreatedAt, &k.UpdatedAt} {
		*t = t.UTC().Truncate(time.Millisecond)
	}
	return nil
}

// checkImportedRoles returns a *ValidationError naming each key's role that
// does not exist (keys[i].roles[j]), as a create would: roles are not part
// of an export, so they are made first (PUT /v1/roles/{name}). Each name is
// read once.
func (s *Service) checkImportedRoles(ctx context.Context, keys []*Key) error {
	exists := map[string]bool{}
	var probs problems
	more := 0
	for i, k := range keys {
		for j, r := range k.Roles {
			ok, seen := exists[r]
			if !seen {
				var one problems
				if err := s.checkRoles(ctx, []string{r}, &one); err != nil {
					return err
				}
				ok = one.err() == nil
				exists[r] = ok
			}
			switch {
			case ok:
			case len(probs) == maxImportProblems:
				more++
			default:
				probs.add(fmt.Sprintf("keys[%d].roles[%d]", i, j), fmt.Sprintf("key %s: no role is named %q; create it first (PUT /v1/roles/%s)", k.ID, r, r))
			}
		}
	}
	if more > 0 {
		probs.add("keys", fmt.Sprintf("%d more roles of keys do not exist", more))
	}
	return probs.err()
}

// importedLimits returns the named limits of an imported record other than
// the "default" one its rate_limit gives (records of older keyward versions
// have rate_limit only; newer ones list it in rate_limits too).
func importedLimits(k *Key) []NamedRateLimit {
	if k.RateLimit == nil {
		return k.RateLimits
	}
	return slices.DeleteFunc(slices.Clone(k.RateLimits), func(l NamedRateLimit) bool { return l.Name == DefaultLimitName })
}

// Import stores keys brought from another keyward, in batches, skipping ids
// that exist (so importing the same records twice changes nothing). Validate
// every record with [Service.ValidateImport] first: Import stores them as
// they are. progress, if not nil, is called after each batch with the number
// of records handled so far.
//
// The maximum key lifetime of the [Policy] applies: if a key has no expiry
// or expires beyond it, Import writes nothing and returns a
// *ValidationError naming those keys (keys[i].expires_at). The default
// lifetime does not apply: imported keys keep their expiry.
func (s *Service) Import(ctx context.Context, keys []*Key, progress func(done int)) (ImportResult, error) {
	const batch = 1000
	var res ImportResult
	pol, err := s.Policy(ctx)
	if err != nil {
		return res, err
	}
	if err := pol.checkImport(keys, s.Now()); err != nil {
		return res, err
	}
	if err := s.checkImportedRoles(ctx, keys); err != nil {
		return res, err
	}
	for start := 0; start < len(keys); start += batch {
		chunk := keys[start:min(start+batch, len(keys))]
		audit := make([]*AuditEntry, len(chunk))
		for i, k := range chunk {
			a := s.audit(ctx, ActionCreate, k.ID, map[string]any{"name": k.Name, "owner": k.Owner, "import": true})
			e, err := s.keyEvent(ctx, EventKeyCreated, k, "")
			if audit[i], err = withEvent(a, e, err); err != nil {
				return res, err
			}
		}
		n, err := s.store.CreateBatch(ctx, chunk, audit)
		if err != nil {
			return res, fmt.Errorf("keyward: importing keys: %w", err)
		}
		if n > 0 {
			s.notifyEvents()
		}
		res.Created += n
		res.Skipped += len(chunk) - n
		if progress != nil {
			progress(start + len(chunk))
		}
	}
	return res, nil
}
