// Package attr reads a resource's Config against its schema: typed
// getters that apply defaults, check values and collect one
// *modules.AttrError per bad attribute, so New reports every mistake at
// once and each error names its attribute.
package attr

import (
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/opsrun/opsrun/modules"
)

// Reader reads attributes of one Config. Getters never fail: they record
// an error and return a zero value, and Err returns everything recorded.
type Reader struct {
	c        modules.Config
	defaults map[string]cty.Value
	errs     []error
}

// NewReader reads c with the defaults of schema. The engine applies
// defaults already; the Reader applies them again so a Config built by a
// test or another caller behaves the same.
func NewReader(c modules.Config, schema []modules.Attr) *Reader {
	d := make(map[string]cty.Value, len(schema))
	for _, a := range schema {
		if a.Default != cty.NilVal {
			d[a.Name] = a.Default
		}
	}
	return &Reader{c: c, defaults: d}
}

// Err is every recorded attribute error, joined; nil when all were good.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Errorf records an error about attribute name.
func (r *Reader) Errorf(name, format string, args ...any) {
	r.errs = append(r.errs, &modules.AttrError{Attr: name, Msg: fmt.Sprintf(format, args...)})
}

// Sensitive reports whether name's value came from a sensitive variable.
func (r *Reader) Sensitive(name string) bool { return r.c.Sensitive[name] }

// Quote renders a value of name for an error message, hiding sensitive ones.
func (r *Reader) Quote(name, s string) string {
	if r.Sensitive(name) {
		return "(sensitive value)"
	}
	return strconv.Quote(s)
}

// Value is name's value: unmarked, the default when null or absent, and
// null (cty.DynamicPseudoType) when neither is set. Unknown values are
// returned as they are; the typed getters treat them as unset without an
// error, so `validate` (which evaluates host facts as unknown) passes.
func (r *Reader) Value(name string) cty.Value {
	v, ok := r.c.Attrs[name]
	if ok && v != cty.NilVal {
		v, _ = v.UnmarkDeep()
	}
	if !ok || v == cty.NilVal || v.IsNull() {
		if d, ok := r.defaults[name]; ok {
			return d
		}
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return v
}

// String is name's value as a string; set is false when null or unknown.
func (r *Reader) String(name string) (s string, set bool) {
	v := r.Value(name)
	if v.IsNull() || !v.IsWhollyKnown() {
		return "", false
	}
	sv, err := convert.Convert(v, cty.String)
	if err != nil {
		r.Errorf(name, "must be a string")
		return "", false
	}
	s = sv.AsString()
	if strings.ContainsRune(s, 0) {
		// A NUL cannot pass through a shell argument; sh would cut the
		// word short and act on a different value than the one declared.
		r.Errorf(name, "must not contain a NUL character")
		return "", false
	}
	return s, true
}

// Required is name's string value, recording an error when it is null or
// empty.
func (r *Reader) Required(name string) string {
	if r.Value(name).IsNull() {
		r.Errorf(name, "is required")
		return ""
	}
	s, set := r.String(name)
	if set && s == "" {
		r.Errorf(name, "must not be empty")
	}
	return s
}

// OneOf is name's string value, which must be one of allowed.
func (r *Reader) OneOf(name string, allowed ...string) string {
	s, set := r.String(name)
	if !set {
		return ""
	}
	if !slices.Contains(allowed, s) {
		r.Errorf(name, "%s is not one of %s", r.Quote(name, s), strings.Join(allowed, ", "))
		return ""
	}
	return s
}

// Bool is name's value as a bool; set is false when null or unknown.
func (r *Reader) Bool(name string) (b, set bool) {
	v := r.Value(name)
	if v.IsNull() || !v.IsWhollyKnown() {
		return false, false
	}
	bv, err := convert.Convert(v, cty.Bool)
	if err != nil {
		r.Errorf(name, "must be true or false")
		return false, false
	}
	return bv.True(), true
}

// Strings is name's value as a list of strings. A single string is a list
// of one, so `name = "curl"` and `name = ["curl", "git"]` both work.
func (r *Reader) Strings(name string) []string {
	v := r.Value(name)
	if v.IsNull() || !v.IsWhollyKnown() {
		return nil
	}
	if v.Type() == cty.String || v.Type() == cty.Number || v.Type() == cty.Bool {
		s, _ := r.String(name)
		return []string{s}
	}
	lv, err := convert.Convert(v, cty.List(cty.String))
	if err != nil {
		r.Errorf(name, "must be a string or a list of strings")
		return nil
	}
	var out []string
	for _, e := range lv.AsValueSlice() {
		if e.IsNull() {
			r.Errorf(name, "must not contain null")
			return nil
		}
		s := e.AsString()
		if strings.ContainsRune(s, 0) {
			r.Errorf(name, "must not contain a NUL character")
			return nil
		}
		out = append(out, s)
	}
	return out
}

// StringMap is name's value as a map of strings (null: nil).
func (r *Reader) StringMap(name string) map[string]string {
	v := r.Value(name)
	if v.IsNull() || !v.IsWhollyKnown() {
		return nil
	}
	mv, err := convert.Convert(v, cty.Map(cty.String))
	if err != nil {
		r.Errorf(name, "must be a map of strings")
		return nil
	}
	out := make(map[string]string, mv.LengthInt())
	for k, e := range mv.AsValueMap() {
		if e.IsNull() {
			r.Errorf(name, "%s must not be null", strconv.Quote(k))
			continue
		}
		s := e.AsString()
		if strings.ContainsRune(s, 0) || strings.ContainsRune(k, 0) {
			r.Errorf(name, "must not contain a NUL character")
			continue
		}
		out[k] = s
	}
	return out
}

// AbsPath is name's value as a clean absolute path on the host; "" when
// unset (an error too when required).
func (r *Reader) AbsPath(name string, required bool) string {
	var p string
	if required {
		p = r.Required(name)
	} else {
		p, _ = r.String(name)
	}
	if p == "" {
		return ""
	}
	if !strings.HasPrefix(p, "/") {
		r.Errorf(name, "%s is not an absolute path (it must start with /)", r.Quote(name, p))
		return ""
	}
	return path.Clean(p)
}

// Mode is name's value as permission bits 0-07777, from an octal string
// such as "0644", "644" or "2775".
func (r *Reader) Mode(name string) (mode uint32, set bool) {
	s, set := r.String(name)
	if !set {
		return 0, false
	}
	m, err := ParseMode(s)
	if err != nil {
		r.Errorf(name, "%s is not an octal file mode like \"0644\" or \"0755\"", r.Quote(name, s))
		return 0, false
	}
	return m, true
}

// ParseMode parses an octal mode of 3 or 4 digits ("644", "0644", "2775").
func ParseMode(s string) (uint32, error) {
	if len(s) < 3 || len(s) > 4 {
		return 0, fmt.Errorf("mode %q: want 3 or 4 octal digits", s)
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, fmt.Errorf("mode %q: want octal digits", s)
	}
	return uint32(m), nil
}

// FormatMode prints a mode the way people write it: "0644", "2775".
func FormatMode(m uint32) string { return fmt.Sprintf("%04o", m) }

// FileMode converts permission bits to an fs.FileMode, moving the setuid,
// setgid and sticky bits to Go's flags.
func FileMode(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

// accountRE is what owner, group and user accept: a user or group name
// (letters, digits, _ . - and a trailing $ for machine accounts, not
// starting with -) or a numeric id. Checking here keeps a value from being
// read as an option or splitting chown's "owner:group" argument.
var accountRE = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.-]*\$?|[0-9]+)$`)

// Account is name's value as a user or group name or numeric id; "" when
// unset.
func (r *Reader) Account(name string) string {
	s, set := r.String(name)
	if !set {
		return ""
	}
	if len(s) > 64 || !accountRE.MatchString(s) {
		r.Errorf(name, "%s is not a user or group name or a numeric id", r.Quote(name, s))
		return ""
	}
	return s
}

// Unknown is the error Plan returns when attributes of c are not known
// yet (a `validate` evaluates host facts as unknown), naming them; nil
// when all are known. New accepts such values so validate passes; Plan
// must refuse them, as a URL, checksum or path it cannot check would
// otherwise end up empty in a command.
func Unknown(c modules.Config) error {
	var names []string
	for name, v := range c.Attrs {
		if v == cty.NilVal {
			continue
		}
		if v, _ = v.UnmarkDeep(); !v.IsWhollyKnown() {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return fmt.Errorf("%s depends on values that are not known yet", strings.Join(names, ", "))
}

// Int is name's value as a whole number in [lo, hi]; 0 when unset or not
// known yet (an error too when out of range or not whole). git's depth and
// archive's strip_components read theirs with it.
func (r *Reader) Int(name string, lo, hi int64) int {
	v := r.Value(name)
	if v.IsNull() || !v.IsWhollyKnown() {
		return 0
	}
	nv, err := convert.Convert(v, cty.Number)
	if err != nil {
		r.Errorf(name, "must be a whole number")
		return 0
	}
	bf := nv.AsBigFloat()
	if !bf.IsInt() || bf.Cmp(new(big.Float).SetInt64(lo)) < 0 || bf.Cmp(new(big.Float).SetInt64(hi)) > 0 {
		r.Errorf(name, "%s is not a whole number from %d to %d", bf.Text('g', 10), lo, hi)
		return 0
	}
	n, _ := bf.Int64()
	return int(n)
}
