// credprobe: resolves credentials through the Go SDK v2 default chain and prints one JSON line.
// Built by test/helpers/go-probe.ts in GOPATH mode against Debian's golang-github-aws-aws-sdk-go-v2-dev.
package main

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string]any{"ok": false}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err == nil {
		var c aws.Credentials
		if c, err = cfg.Credentials.Retrieve(ctx); err == nil {
			out = map[string]any{"ok": true, "source": c.Source, "ak": c.AccessKeyID, "hasSecret": c.SecretAccessKey != "",
				"hasToken": c.SessionToken != "", "canExpire": c.CanExpire, "expires": c.Expires.UTC().Format(time.RFC3339)}
		}
	}
	if err != nil {
		out["error"] = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
	if err != nil {
		os.Exit(1)
	}
}
