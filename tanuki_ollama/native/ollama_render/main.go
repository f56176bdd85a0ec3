// ollama-render renders a chat through Ollama's own template package, exactly as `ollama serve` does
// before it hands the prompt to llama-server. Used by tanuki's template-parity checks.
//
// stdin:  {"template": "...", "messages": [...], "tools": [...]}   (Ollama /api/chat shapes)
// stdout: the rendered prompt, byte for byte
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/template"
)

type request struct {
	Template string        `json:"template"`
	Messages []api.Message `json:"messages"`
	Tools    api.Tools     `json:"tools"`
	Prompt   string        `json:"prompt"`
	Suffix   string        `json:"suffix"`
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		fail(fmt.Errorf("bad request JSON: %w", err))
	}
	tmpl, err := template.Parse(req.Template)
	if err != nil {
		fail(fmt.Errorf("template does not parse: %w", err))
	}
	values := template.Values{Messages: req.Messages, Tools: req.Tools, Prompt: req.Prompt, Suffix: req.Suffix}
	if err := tmpl.Execute(os.Stdout, values); err != nil {
		fail(fmt.Errorf("template failed: %w", err))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ollama-render:", err)
	os.Exit(2)
}
