package proxyconfig

import (
	"fmt"
	"os"
	"reflect"
	"strings"

	"sigs.k8s.io/yaml"
)

// Parse reads a YAML (or JSON) ProxyConfig strictly, applies defaults and validates it.
func Parse(data []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		if js, jerr := yaml.YAMLToJSON(data); jerr == nil && strings.Contains(err.Error(), "unknown field") {
			if path := unknownField(js, reflect.TypeFor[Config]()); path != "" {
				return nil, fmt.Errorf("parsing ProxyConfig: %s: unknown field", path)
			}
		}
		return nil, fmt.Errorf("parsing ProxyConfig: %w", err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("invalid ProxyConfig:\n%w", err)
	}
	return &c, nil
}

// Load reads and parses the ProxyConfig file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading ProxyConfig: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Marshal writes c as YAML, as the operator renders it.
func Marshal(c *Config) ([]byte, error) { return yaml.Marshal(c) }
