package keyward

import "fmt"

// Outcome is the result code of a verification. The zero value is
// [OutcomeValid]'s opposite, [OutcomeMissing]; codes are listed in the order
// [Service.Verify] checks them.
type Outcome uint8

// Verification outcomes, in the order they are checked.
const (
	// OutcomeMissing: no key was presented (HTTP layers only).
	OutcomeMissing Outcome = iota
	// OutcomeMalformed: the string does not parse or its checksum is wrong.
	OutcomeMalformed
	// OutcomeNotFound: no key has that id, or the secret is wrong.
	OutcomeNotFound
	// OutcomeRevoked: the key was revoked.
	OutcomeRevoked
	// OutcomeExpired: expires_at is past.
	OutcomeExpired
	// OutcomeDisabled: the key is disabled.
	OutcomeDisabled
	// OutcomeForbiddenAddress: the client address is outside allowed_cidrs.
	OutcomeForbiddenAddress
	// OutcomeInsufficientScope: a required scope is not granted.
	OutcomeInsufficientScope
	// OutcomeRateLimited: the rate limit is spent for now.
	OutcomeRateLimited
	// OutcomeUsageExceeded: fewer credits remain than the cost.
	OutcomeUsageExceeded
	// OutcomeValid: every check passed; the cost was spent.
	OutcomeValid

	numOutcomes = int(OutcomeValid) + 1
)

var outcomeNames = [numOutcomes]string{
	OutcomeMissing:           "MISSING",
	OutcomeMalformed:         "MALFORMED",
	OutcomeNotFound:          "NOT_FOUND",
	OutcomeRevoked:           "REVOKED",
	OutcomeExpired:           "EXPIRED",
	OutcomeDisabled:          "DISABLED",
	OutcomeForbiddenAddress:  "FORBIDDEN_ADDRESS",
	OutcomeInsufficientScope: "INSUFFICIENT_SCOPE",
	OutcomeRateLimited:       "RATE_LIMITED",
	OutcomeUsageExceeded:     "USAGE_EXCEEDED",
	OutcomeValid:             "VALID",
}

// Outcomes returns every outcome in check order.
func Outcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// String returns the contract code, e.g. "NOT_FOUND".
func (o Outcome) String() string {
	if int(o) < numOutcomes {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// MarshalText encodes the outcome as its code.
func (o Outcome) MarshalText() ([]byte, error) {
	if int(o) >= numOutcomes {
		return nil, fmt.Errorf("keyward: unknown outcome %d", uint8(o))
	}
	return []byte(outcomeNames[o]), nil
}

// UnmarshalText decodes a code such as "VALID".
func (o *Outcome) UnmarshalText(b []byte) error {
	v, ok := ParseOutcome(string(b))
	if !ok {
		return fmt.Errorf("keyward: unknown outcome %q", b)
	}
	*o = v
	return nil
}

// ParseOutcome returns the outcome with that code and reports whether there is one.
func ParseOutcome(s string) (Outcome, bool) {
	for i, n := range outcomeNames {
		if n == s {
			return Outcome(i), true
		}
	}
	return 0, false
}
