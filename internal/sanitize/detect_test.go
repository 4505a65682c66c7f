package sanitize

import (
	"testing"
)

var allDetectors = []Detector{CreditCard, USSSN, Email, PhoneNumber, SecretKey}

func mustNew(t testing.TB, p Policy) *Sanitizer {
	t.Helper()
	s, err := New(p)
	if err != nil {
		t.Fatalf("New(%+v): %v", p, err)
	}
	return s
}

func TestDetectors(t *testing.T) {
	tests := map[string]struct {
		// in is the text to sanitize with every built-in detector on.
		in string
		// want is the redacted text.
		want string
	}{
		// CreditCard
		"visa with spaces":              {in: "card 4111 1111 1111 1111 thanks", want: "card [CREDIT_CARD] thanks"},
		"visa failing luhn":             {in: "card 4111 1111 1111 1112 thanks", want: "card 4111 1111 1111 1112 thanks"},
		"visa contiguous":               {in: "4111111111111111", want: "[CREDIT_CARD]"},
		"mastercard with dashes":        {in: "mc: 5500-0000-0000-0004.", want: "mc: [CREDIT_CARD]."},
		"amex 4-6-5":                    {in: "amex 3782 822463 10005", want: "amex [CREDIT_CARD]"},
		"amex contiguous 15":            {in: "(378282246310005)", want: "([CREDIT_CARD])"},
		"discover":                      {in: "6011111111111117", want: "[CREDIT_CARD]"},
		"visa 13 digits":                {in: "old visa 4222222222222", want: "old visa [CREDIT_CARD]"},
		"19 digits in groups":           {in: "6212 3456 7890 1234 569", want: "[CREDIT_CARD]"},
		"19 digits failing luhn":        {in: "6212 3456 7890 1234 562", want: "6212 3456 7890 1234 562"},
		"card then year keeps year":     {in: "4111 1111 1111 1111 2024", want: "[CREDIT_CARD] 2024"},
		"inside longer digit run":       {in: "id 94111111111111111", want: "id 94111111111111111"},
		"20 digit run":                  {in: "41111111111111111111", want: "41111111111111111111"},
		"glued to letters":              {in: "x4111111111111111", want: "x4111111111111111"},
		"followed by letters":           {in: "4111111111111111x", want: "4111111111111111x"},
		"decimal fraction":              {in: "pi 3.4111111111111111", want: "pi 3.4111111111111111"},
		"decimal number":                {in: "4111111111111111.5", want: "4111111111111111.5"},
		"industry digit 9 not a card":   {in: "9111111111111111 and 0000000000000000", want: "9111111111111111 and 0000000000000000"},
		"single digit groups":           {in: "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", want: "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"},
		"two cards side by side":        {in: "4111 1111 1111 1111 4111 1111 1111 1111", want: "[CREDIT_CARD] [CREDIT_CARD]"},
		"card after cjk text":           {in: "卡号4111111111111111。", want: "卡号[CREDIT_CARD]。"},
		"card in json arguments string": {in: `{"card":"4111111111111111"}`, want: `{"card":"[CREDIT_CARD]"}`},

		// USSSN
		"ssn dashes":          {in: "SSN 123-45-6789.", want: "SSN [US_SSN]."},
		"ssn spaces":          {in: "ssn: 123 45 6789", want: "ssn: [US_SSN]"},
		"ssn mixed separator": {in: "123-45 6789", want: "123-45 6789"},
		"ssn area 000":        {in: "000-12-3456", want: "000-12-3456"},
		"ssn area 666":        {in: "666-12-3456", want: "666-12-3456"},
		"ssn area 9xx":        {in: "912-34-5678", want: "912-34-5678"},
		"ssn group 00":        {in: "123-00-4567", want: "123-00-4567"},
		"ssn serial 0000":     {in: "123-45-0000", want: "123-45-0000"},
		"ssn longer run":      {in: "123-45-67890", want: "123-45-67890"},
		"ssn continued":       {in: "123-45-6789-1", want: "123-45-6789-1"},
		"ssn nine bare":       {in: "123456789", want: "123456789"},

		// Email
		"email":                 {in: "mail john.doe+tag@example.co.uk now", want: "mail [EMAIL] now"},
		"email end of sentence": {in: "write to a@b.io.", want: "write to [EMAIL]."},
		"email in angle":        {in: "<Jane_Doe@Mail.Example.COM>", want: "<[EMAIL]>"},
		"email no tld":          {in: "root@localhost", want: "root@localhost"},
		"email numeric tld":     {in: "a@1.2.3.4", want: "a@1.2.3.4"},
		"handle not email":      {in: "ping @alice and @bob", want: "ping @alice and @bob"},
		"email leading dots":    {in: "..x@example.com", want: "..[EMAIL]"},
		"decorator":             {in: "@property\ndef x(self): pass", want: "@property\ndef x(self): pass"},

		// PhoneNumber
		"phone e164 uk":            {in: "call +44 20 7946 0958 today", want: "call [PHONE_NUMBER] today"},
		"phone paren":              {in: "(555) 123-4567", want: "[PHONE_NUMBER]"},
		"phone dashes":             {in: "tel: 555-123-4567.", want: "tel: [PHONE_NUMBER]."},
		"phone dots":               {in: "555.123.4567", want: "[PHONE_NUMBER]"},
		"phone mixed dot":          {in: "555.123-4567", want: "555.123-4567"},
		"phone 1-800":              {in: "1-800-555-1234", want: "[PHONE_NUMBER]"},
		"phone 1 paren":            {in: "1 (800) 555-1234", want: "[PHONE_NUMBER]"},
		"phone e164 compact":       {in: "+15551234567", want: "[PHONE_NUMBER]"},
		"phone e164 us paren":      {in: "+1 (555) 123-4567", want: "[PHONE_NUMBER]"},
		"phone e164 trunk zero":    {in: "+44 (0)20 7946 0958", want: "[PHONE_NUMBER]"},
		"phone e164 too short":     {in: "+1 234 567", want: "+1 234 567"},
		"phone e164 too long":      {in: "+1234567890123456", want: "+1234567890123456"},
		"arithmetic plus":          {in: "2+2 and 3 + 12345678", want: "2+2 and 3 + 12345678"},
		"phone bare ten digits":    {in: "5551234567", want: "5551234567"},
		"iso date":                 {in: "on 2024-01-15 at 10:30", want: "on 2024-01-15 at 10:30"},
		"us date":                  {in: "12/25/2024", want: "12/25/2024"},
		"ip address":               {in: "192.168.100.200", want: "192.168.100.200"},
		"version":                  {in: "v1.24.3", want: "v1.24.3"},
		"phone continued by digit": {in: "555-123-4567-8", want: "555-123-4567-8"},

		// SecretKey
		"openai key":          {in: "key sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL end", want: "key [SECRET_KEY] end"},
		"openai project key":  {in: "OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", want: "OPENAI_API_KEY=[SECRET_KEY]"},
		"anthropic key":       {in: `"sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA-BBBB"`, want: `"[SECRET_KEY]"`},
		"sk too short":        {in: "sk-learn is a nickname", want: "sk-learn is a nickname"},
		"sk glued":            {in: "task-abcdefghijklmnopqrstuvwxyz", want: "task-abcdefghijklmnopqrstuvwxyz"},
		"stripe live":         {in: "sk_live_4eC39HqLyjWDarjtT1zdp7dc", want: "[SECRET_KEY]"},
		"aws access key":      {in: "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", want: "aws_access_key_id = [SECRET_KEY]"},
		"aws session key":     {in: "ASIAY34FZKBOKMUTVV7A,", want: "[SECRET_KEY],"},
		"aws too long":        {in: "AKIAIOSFODNN7EXAMPLEX", want: "AKIAIOSFODNN7EXAMPLEX"},
		"google api key":      {in: "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", want: "[SECRET_KEY]"},
		"github classic":      {in: "token ghp_16C7e42F292c6912E7710c838347Ae178B4a", want: "token [SECRET_KEY]"},
		"github fine grained": {in: "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", want: "[SECRET_KEY]"},
		"slack bot":           {in: "xoxb-123456789012-abcdefABCDEF", want: "[SECRET_KEY]"},
		"bearer token":        {in: "Authorization: Bearer abcdef0123456789xyz", want: "Authorization: Bearer [SECRET_KEY]"},
		"bearer lowercase":    {in: "authorization: bearer 9f8e7d6c5b4a39281706", want: "authorization: bearer [SECRET_KEY]"},
		"bearer prose":        {in: "Bearer tokens are sent in the Authorization header", want: "Bearer tokens are sent in the Authorization header"},
		"bearer short":        {in: "Bearer abc123", want: "Bearer abc123"},
		"jwt": {
			in:   "jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok",
			want: "jwt [SECRET_KEY] ok",
		},
		"not jwt": {in: "eyJust kidding.eyJ", want: "eyJust kidding.eyJ"},

		// Interplay
		"match right after match": {in: "sk-abcdefghijklmnopqrstuvwxyz+15551234567", want: "[SECRET_KEY][PHONE_NUMBER]"},
		"card then email":         {in: "4111111111111111.x@y.com", want: "[CREDIT_CARD].[EMAIL]"},
		"email local part digits": {in: "4111111111111111@example.com", want: "[CREDIT_CARD]@example.com"},
		"nothing":                 {in: "Hello, world! 2 + 2 = 4; see §3.1 (2019).", want: "Hello, world! 2 + 2 = 4; see §3.1 (2019)."},
		"empty":                   {in: "", want: ""},
	}
	s := mustNew(t, Policy{Detectors: allDetectors})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, _, err := s.SanitizeText(tc.in)
			if err != nil {
				t.Fatalf("SanitizeText: %v", err)
			}
			if got != tc.want {
				t.Errorf("SanitizeText(%q)\n got  %q\n want %q", tc.in, got, tc.want)
			}
			// Redaction is idempotent: nothing is left to find in the output.
			again, hits, _ := s.SanitizeText(got)
			if again != got || len(hits) != 0 {
				t.Errorf("second pass changed %q to %q (hits %v)", got, again, hits)
			}
		})
	}
}

func TestDetectorsOnlyEnabled(t *testing.T) {
	const in = "4111 1111 1111 1111 123-45-6789 a@b.com (555) 123-4567 sk-abcdefghijklmnopqrstuvwxyz"
	tests := map[string]struct {
		// detectors are the only ones enabled.
		detectors []Detector
		// want is the redacted text.
		want string
	}{
		"none":        {want: in},
		"card":        {detectors: []Detector{CreditCard}, want: "[CREDIT_CARD] 123-45-6789 a@b.com (555) 123-4567 sk-abcdefghijklmnopqrstuvwxyz"},
		"ssn":         {detectors: []Detector{USSSN}, want: "4111 1111 1111 1111 [US_SSN] a@b.com (555) 123-4567 sk-abcdefghijklmnopqrstuvwxyz"},
		"email":       {detectors: []Detector{Email}, want: "4111 1111 1111 1111 123-45-6789 [EMAIL] (555) 123-4567 sk-abcdefghijklmnopqrstuvwxyz"},
		"phone":       {detectors: []Detector{PhoneNumber}, want: "4111 1111 1111 1111 123-45-6789 a@b.com [PHONE_NUMBER] sk-abcdefghijklmnopqrstuvwxyz"},
		"secret":      {detectors: []Detector{SecretKey}, want: "4111 1111 1111 1111 123-45-6789 a@b.com (555) 123-4567 [SECRET_KEY]"},
		"card, phone": {detectors: []Detector{CreditCard, PhoneNumber}, want: "[CREDIT_CARD] 123-45-6789 a@b.com [PHONE_NUMBER] sk-abcdefghijklmnopqrstuvwxyz"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := mustNew(t, Policy{Detectors: tc.detectors})
			got, _, err := s.SanitizeText(in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestLuhn(t *testing.T) {
	tests := map[string]struct {
		// digits is the number to check.
		digits string
		// want is whether it passes.
		want bool
	}{
		"visa test":   {digits: "4111111111111111", want: true},
		"off by one":  {digits: "4111111111111112", want: false},
		"amex test":   {digits: "378282246310005", want: true},
		"zeros":       {digits: "0000000000000", want: true},
		"79927398713": {digits: "79927398713", want: true},
		"79927398710": {digits: "79927398710", want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := []byte(tc.digits)
			for i := range d {
				d[i] -= '0'
			}
			if got := luhn(d); got != tc.want {
				t.Errorf("luhn(%s) = %v, want %v", tc.digits, got, tc.want)
			}
		})
	}
}
