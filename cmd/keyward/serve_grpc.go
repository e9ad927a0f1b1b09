package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/extauthz"
)

// serve --grpc-addr: Envoy's external authorization over gRPC
// (envoy.service.auth.v3.Authorization/Check, package extauthz), beside the
// HTTP server, on the same Service.

// listenGRPC listens on --grpc-addr; nil when it is not set.
func listenGRPC(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on --grpc-addr %s: %w", addr, err)
	}
	return ln, nil
}

// grpcStreamWorkers is how many goroutines serve gRPC calls.
const grpcStreamWorkers = 64

// startGRPC serves the ext_authz check on ln (nothing when ln is nil), with
// the TLS pair of --tls-cert and --tls-key if given, the client address rules
// of --trusted-proxies and the api_key rule of --allow-query-key, as
// /v1/auth. It returns ctx, canceled if the gRPC server fails so that the
// HTTP server stops too, and stop, which drains the gRPC calls (at most
// --shutdown-timeout; they drain at the same time as the HTTP requests when
// ctx ends) and returns the gRPC server's error, if it failed.
func startGRPC(ctx context.Context, ln net.Listener, svc *keyward.Service, c serveConfig, in serveInputs, log *slog.Logger) (context.Context, func() error) {
	if ln == nil {
		return ctx, func() error { return nil }
	}
	// Checks run on 64 long-lived goroutines rather than a new one per
	// call, whose stack grew from 8 KB through protobuf decoding on every
	// call (runtime.newstack was an eighth of a check's CPU); past 64 calls
	// at once, grpc-go starts goroutines as before (docs/benchmarks.md).
	opts := []grpc.ServerOption{grpc.NumStreamWorkers(grpcStreamWorkers)}
	if in.cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{*in.cert}})))
	}
	gs := grpc.NewServer(opts...)
	extauthz.New(svc, &extauthz.Options{TrustedProxies: in.proxies, AllowQueryKey: c.allowQueryKey, Logger: log}).Register(gs)

	ctx, cancel := context.WithCancelCause(ctx)
	var serveErr error
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := gs.Serve(ln); err != nil {
			serveErr = fmt.Errorf("grpc server: %w", err)
			cancel(serveErr)
		}
	}()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		force := time.AfterFunc(c.shutdownTimeout, gs.Stop)
		defer force.Stop()
		gs.GracefulStop()
	}()
	return ctx, func() error {
		cancel(nil)
		<-drained
		<-served
		return serveErr
	}
}
