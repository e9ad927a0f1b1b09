package api

// Labels of the answer of POST /v1/leaks/github.
const (
	// LabelTruePositive: the token is a key of this deployment.
	LabelTruePositive = "true_positive"
	// LabelFalsePositive: it is not (a string that only looks like a key,
	// an unknown key, a forged string with a real key's id).
	LabelFalsePositive = "false_positive"
)

// MaxLeakTokens is the most tokens one leak report may carry.
const MaxLeakTokens = 1000

// LeakToken is one match in a report of GitHub's secret scanning partner
// program: the body of POST /v1/leaks/github is a JSON array of them.
type LeakToken struct {
	Token  string `json:"token" doc:"The string found."`
	Type   string `json:"type,omitempty" doc:"The name the secret type was registered under."`
	URL    string `json:"url,omitempty" doc:"Where it was found (may be empty)."`
	Source string `json:"source,omitempty" doc:"What it was found in: content, commit, issue_comment, npm..."`
}

// LeakLabel is the answer for one token: the answer of POST /v1/leaks/github
// is a JSON array of them, in the order of the report.
type LeakLabel struct {
	TokenHash string `json:"token_hash" doc:"Hex SHA-256 of the token: the token itself is never sent back."`
	TokenType string `json:"token_type" doc:"The type of the report."`
	Label     string `json:"label" enum:"true_positive,false_positive" doc:"true_positive when the token is a key of this deployment, revoked or not; false_positive otherwise."`
}
