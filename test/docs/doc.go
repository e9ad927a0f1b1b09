// Package docs holds the tests that follow keyward's documentation as a
// reader would: the README's quick starts run command by command in an empty
// directory, the pepper rotation of docs/security.md, and a check that every
// piece of Go code in a doc comment or a Markdown file is code that go test
// compiles.
package docs
