package proxyconfig

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Environment resolves environment variables for key sources: the process environment first,
// then the variables of a .env file (local development, as the app best-practices guide
// recommends). The zero value reads the process environment only.
type Environment struct {
	// DotEnv holds the variables read from a .env file.
	DotEnv map[string]string
}

// Lookup returns the value of name; the real environment wins over the .env file.
func (e Environment) Lookup(name string) (string, bool) {
	if v, ok := os.LookupEnv(name); ok {
		return v, true
	}
	v, ok := e.DotEnv[name]
	return v, ok
}

// LoadEnvironment reads the .env file at path. A missing file is not an error unless required
// (the --env-file flag names one explicitly).
func LoadEnvironment(path string, required bool) (Environment, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return Environment{}, nil
	}
	if err != nil {
		return Environment{}, fmt.Errorf("reading env file: %w", err)
	}
	vars, err := ParseDotEnv(data)
	if err != nil {
		return Environment{}, fmt.Errorf("%s: %w", path, err)
	}
	return Environment{DotEnv: vars}, nil
}

// ParseDotEnv reads KEY=value lines: blank lines and # comments are skipped, an optional
// "export " prefix is allowed, values may be single-quoted (literal) or double-quoted (\n, \t,
// \" and \\ escapes), and an unquoted value ends at " #". Errors name the line, never its value.
func ParseDotEnv(data []byte) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !envNamePattern.MatchString(key) {
			return nil, fmt.Errorf("line %d: want KEY=value", n)
		}
		value = strings.TrimSpace(value)
		switch {
		case len(value) >= 2 && value[0] == '\'' && strings.HasSuffix(value, "'"):
			value = value[1 : len(value)-1]
		case len(value) >= 2 && value[0] == '"' && strings.HasSuffix(value, "\""):
			value = strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\"`, `"`, `\\`, `\`).Replace(value[1 : len(value)-1])
		case len(value) > 0 && (value[0] == '"' || value[0] == '\''):
			return nil, fmt.Errorf("line %d: unterminated quoted value", n)
		default:
			if i := strings.Index(value, " #"); i >= 0 {
				value = strings.TrimSpace(value[:i])
			}
		}
		vars[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return vars, nil
}

// Resolve reads the key from its file or environment variable. Errors name the source, never the
// key.
func (k *KeySource) Resolve(env Environment) (string, error) {
	if k == nil {
		return "", nil
	}
	if k.File != "" {
		data, err := os.ReadFile(k.File)
		if err != nil {
			return "", fmt.Errorf("reading API key file: %w", err)
		}
		key := strings.TrimSpace(string(data))
		if key == "" {
			return "", fmt.Errorf("API key file %s is empty", k.File)
		}
		return key, nil
	}
	v, ok := env.Lookup(k.Env)
	v = strings.TrimSpace(v)
	if !ok {
		return "", fmt.Errorf("environment variable %s is not set (neither in the environment nor in .env)", k.Env)
	}
	if v == "" {
		return "", fmt.Errorf("environment variable %s is empty", k.Env)
	}
	return v, nil
}
