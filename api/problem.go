package api

// Problem codes that are not verification outcomes (those are the
// keyward.Outcome strings).
const (
	CodeUnauthorized     = "UNAUTHORIZED"
	CodeForbidden        = "FORBIDDEN"
	CodeInvalidRequest   = "INVALID_REQUEST"
	CodeValidationFailed = "VALIDATION_FAILED"
	CodeNotFound         = "NOT_FOUND"
	CodeConflict         = "CONFLICT"
	CodePayloadTooLarge  = "PAYLOAD_TOO_LARGE"
	CodeUnavailable      = "UNAVAILABLE"
	CodeInternal         = "INTERNAL"
)

// Problem is an RFC 9457 problem document with keyward's code member: the
// body of every error answer (application/problem+json).
type Problem struct {
	Type   string          `json:"type" doc:"Always about:blank: the status and code say what happened."`
	Title  string          `json:"title" doc:"The HTTP status text."`
	Status int             `json:"status"`
	Detail string          `json:"detail,omitempty"`
	Code   string          `json:"code" doc:"A stable, machine-readable code: a verification outcome, or UNAUTHORIZED, FORBIDDEN, INVALID_REQUEST, VALIDATION_FAILED, NOT_FOUND, CONFLICT, PAYLOAD_TOO_LARGE, UNAVAILABLE, INTERNAL."`
	Errors []ProblemDetail `json:"errors,omitempty" doc:"Each broken rule, for VALIDATION_FAILED."`
}

// ProblemDetail is one broken rule: where (e.g. body.name, query.limit) and
// what.
type ProblemDetail struct {
	Location string `json:"location"`
	Message  string `json:"message"`
}
