package sqlite

import (
	"database/sql/driver"
	"strings"

	"modernc.org/sqlite"
)

// foldFunc names the SQL function that folds the case of a name for the
// name searches ("contains", case-insensitive) too short for the trigram
// index: strings.ToLower, for every script. SQLite's own lower() folds
// ASCII letters only, so "É" would not find "éclair".
const foldFunc = "keyward_fold"

func init() {
	sqlite.MustRegisterDeterministicScalarFunction(foldFunc, 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		if s, ok := args[0].(string); ok {
			return strings.ToLower(s), nil
		}
		return args[0], nil // NULL, or not text
	})
}

// containsFolded returns the condition that column contains q, ignoring
// case, and its argument. An ASCII q takes SQLite's lower(), which folds
// what it needs and costs less than a call into Go per row.
func containsFolded(column, q string) (string, any) {
	for i := 0; i < len(q); i++ {
		if q[i] >= 0x80 {
			return "instr(" + foldFunc + "(" + column + "), ?) > 0", strings.ToLower(q)
		}
	}
	return "instr(lower(" + column + "), lower(?)) > 0", q
}
