package proxyconfig

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// unknownField finds the path of the first field in the JSON document data that typ (a struct)
// does not declare, e.g. "providers[0].retries", or "" when every field is known. encoding/json's
// own error names only the field, which is not enough in a file with many providers.
func unknownField(data []byte, typ reflect.Type) string {
	var doc any
	if json.Unmarshal(data, &doc) != nil {
		return ""
	}
	return walkUnknown(doc, typ, "")
}

func walkUnknown(v any, typ reflect.Type, path string) string {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch val := v.(type) {
	case map[string]any:
		if typ.Kind() != reflect.Struct {
			return ""
		}
		fields := map[string]reflect.Type{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		for key, child := range val {
			ft, ok := fields[key]
			p := key
			if path != "" {
				p = path + "." + key
			}
			if !ok {
				return p
			}
			if found := walkUnknown(child, ft, p); found != "" {
				return found
			}
		}
	case []any:
		if typ.Kind() != reflect.Slice {
			return ""
		}
		for i, child := range val {
			if found := walkUnknown(child, typ.Elem(), fmt.Sprintf("%s[%d]", path, i)); found != "" {
				return found
			}
		}
	}
	return ""
}
