package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module's build information.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// app holds what every command shares.
type app struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

func newRoot(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	a := &app{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := &cobra.Command{
		Use:   "keyward",
		Short: "API key management: issue, verify, rotate, revoke and meter API keys",
		Long: `keyward manages API keys.

  keyward serve              run the HTTP server (admin API, verify, forward auth, web page)
  keyward migrate            create or upgrade the database schema
  keyward keys ...           manage keys straight in the database
  keyward owners ...         manage owner records: limits and credits shared by an owner's keys
  keyward roles ...          manage roles: named sets of scopes keys get with --role
  keyward webhooks ...       manage webhook endpoints: where signed events are sent
  keyward policy show|set    show or set the key lifetime policy (default and maximum)
  keyward scan [PATH...]     find leaked keys in files (exit 1 when one is found)
  keyward peppers            show the configured peppers' ids and the keys each one hashes
  keyward version            print the version

Every flag has an environment variable KEYWARD_<FLAG> (upper case, '-' as '_').
Exit status: 0 on success, 1 on an error or a failed verification, 2 on bad usage.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return a.applyEnv(cmd) },
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{msg: err.Error()} })
	root.CompletionOptions.HiddenDefaultCmd = false
	root.AddCommand(a.serveCmd(), a.migrateCmd(), a.versionCmd(), a.keysCmd(), a.ownersCmd(), a.rolesCmd(), a.webhooksCmd(), a.policyCmd(), a.scanCmd(), a.peppersCmd())
	root.InitDefaultCompletionCmd()
	root.SetHelpCommand(helpCmd(root))
	refuseUnknownVerbs(root)
	return root
}

// refuseUnknownVerbs makes cmd and every command below it that has verbs
// answer an unknown verb as bad usage (exit 2), and print their help when
// given none. Cobra would otherwise print the help and exit 0 for both.
func refuseUnknownVerbs(cmd *cobra.Command) {
	if !cmd.HasSubCommands() {
		return
	}
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownVerb(c, args[0])
		}
		return nil
	}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if !cmd.Runnable() {
		cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	}
	for _, sub := range cmd.Commands() {
		refuseUnknownVerbs(sub)
	}
}

func unknownVerb(cmd *cobra.Command, verb string) error {
	msg := fmt.Sprintf("unknown command %q for %q", verb, cmd.CommandPath())
	if s := cmd.SuggestionsFor(verb); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return &usageError{msg: msg + "\nRun '" + cmd.CommandPath() + " --help' for its commands."}
}

// helpCmd is keyward help [command]: cobra's own answers an unknown topic
// with the root's usage and exit 0.
func helpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(_ *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return unknownVerb(cmd, rest[0])
			}
			return cmd.Help()
		},
	}
}

// applyEnv gives every flag not set on the command line the value of its
// KEYWARD_* environment variable.
func (a *app) applyEnv(cmd *cobra.Command) error {
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		v := a.getenv(name)
		if v == "" {
			return
		}
		if lv, ok := f.Value.(*lenientValue); ok {
			lv.source = name
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", name, err))
			return
		}
		f.Changed = true
	})
	if len(errs) > 0 {
		return &usageError{msg: errors.Join(errs...).Error()}
	}
	return nil
}

// lenientValue is a flag value that records a bad value instead of failing
// the parse at once, so that a command (serve) can report it along with
// every other problem of its configuration.
type lenientValue struct {
	pflag.Value
	source string // --flag, or the environment variable the value came from
	err    error  // the first bad value
}

// Set keeps the previous value when s is bad (pflag's scalar values take
// their zero value on a failed Set; its slices stay as they were), so the
// bad value is reported alone, not also as out of range.
func (v *lenientValue) Set(s string) error {
	prev := v.Value.String()
	err := v.Value.Set(s)
	if err == nil {
		return nil
	}
	if _, slice := v.Value.(pflag.SliceValue); !slice {
		v.Value.Set(prev)
	}
	if v.err == nil {
		v.err = fmt.Errorf("%s: %q is not a valid %s", v.source, s, v.Value.Type())
	}
	return nil
}

// lenientFlags makes every flag of fs a lenientValue and returns them, in
// the order of fs.
func lenientFlags(fs *pflag.FlagSet) []*lenientValue {
	var vs []*lenientValue
	fs.VisitAll(func(f *pflag.Flag) {
		v := &lenientValue{Value: f.Value, source: "--" + f.Name}
		f.Value = v
		if f.DefValue == "[]" {
			f.DefValue = "" // the help text sees no slice type to omit an empty default by
		}
		vs = append(vs, v)
	})
	return vs
}

func envName(flag string) string {
	return "KEYWARD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// isUsage reports whether err is bad usage (exit status 2).
func isUsage(err error) bool {
	var ue *usageError
	if errors.As(err, &ue) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires ", "invalid argument"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(a.stdout, "keyward", buildVersion())
			return nil
		},
	}
}
