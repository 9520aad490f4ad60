// Package account is what the user and group types share about local
// accounts: the name rule the account tools accept, the range of uids
// and gids, and which hosts must be asked which account tools they have.
// One copy, so a user's group and a group resource agree on what a name
// or an id is.
package account

import (
	"math/big"
	"regexp"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
)

// nameRE is the shadow-utils user and group name rule (lowercase, digits,
// _ and -, a trailing $ for Samba machine accounts), with dots allowed as
// Debian, RHEL and busybox allow them. Checked here so no name can be
// read as an option or break a /etc/passwd or /etc/group line.
var nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_.-]*\$?$`)

// ValidName reports whether s is a valid user or group name (nameRE, at
// most 32 characters: the utmp limit useradd enforces).
func ValidName(s string) bool { return len(s) <= 32 && nameRE.MatchString(s) }

// maxID is the largest uid or gid: (uid_t)-1 means "no id" to the kernel.
const maxID = 4294967294

// ReadID reads attribute name as a uid or gid: a whole number from 0 to
// 4294967294. set is false when it is null, unknown or invalid (the
// error is recorded in r).
func ReadID(r *attr.Reader, name string) (id uint32, set bool) {
	v := r.Value(name)
	if v.IsNull() || !v.IsWhollyKnown() {
		return 0, false
	}
	nv, err := convert.Convert(v, cty.Number)
	if err != nil {
		r.Errorf(name, "must be a number")
		return 0, false
	}
	f := nv.AsBigFloat()
	if !f.IsInt() || f.Sign() < 0 || f.Cmp(new(big.Float).SetUint64(maxID)) > 0 {
		shown := f.Text('f', -1)
		if r.Sensitive(name) {
			shown = "(sensitive value)"
		}
		r.Errorf(name, "%s is not a valid id: a whole number from 0 to %d", shown, uint64(maxID))
		return 0, false
	}
	u, _ := f.Uint64()
	return uint32(u), true
}

// ProbeTools reports whether the account probes must ask h which account
// tools it has: Alpine has useradd and groupadd only with the shadow
// package, else busybox's adduser, addgroup, deluser and delgroup; the
// other families have shadow-utils.
func ProbeTools(h *modules.Host) bool { return h.OSFamily == "alpine" }
