package main

import "github.com/spf13/cobra"

func (a *app) keysCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keys",
		Short: "Manage keys straight in the database",
	}
}
