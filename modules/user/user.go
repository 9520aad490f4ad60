// Package user is the `user` resource type: a local user account — its
// uid, groups, shell, home, comment and password — present or absent,
// and optionally its SSH authorized_keys.
package user

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/account"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// Type is the `user` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "user",
		Doc: "A local user account: present with the declared uid, groups, shell, home, comment and " +
			"password, or absent; and, when authorized_keys is set, the public keys allowed to log in " +
			"as the user over SSH. Attributes left null are not managed. Accounts are made with useradd, " +
			"usermod and userdel (shadow-utils, on Debian, RHEL, SUSE and Arch); on Alpine without the " +
			"shadow package, with busybox's adduser, deluser, addgroup and delgroup, which can create and " +
			"remove users and change their groups and password, but not change uid, primary group, shell, " +
			"home or comment afterwards (that is an error naming the field).",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "name", Type: cty.String, Required: true,
			Doc: "The login name: lowercase letters, digits, _ . and -, starting with a letter or _, " +
				"optionally ending with $, at most 32 characters.",
			Example: `"app"`},
		{Name: "uid", Type: cty.Number,
			Doc: "The numeric user id, enforced (usermod -u also re-owns the files in the home directory). " +
				"Null picks a free uid at creation and leaves it alone afterwards. A uid another user has " +
				"is refused by the host, and the run reports that error.",
			Example: `1500`},
		{Name: "group", Type: cty.String,
			Doc: "The primary group, by name or gid; it must exist (declare it with a group resource). " +
				"Null: a new user gets the host's default (a group named like the user on Debian, RHEL and " +
				"Alpine) and an existing user keeps theirs.",
			Example: `"www-data"`},
		{Name: "groups", Type: cty.List(cty.String),
			Doc: "Supplementary groups, by name; they must exist. With append = false (the default) the user " +
				"is in exactly these (besides the primary group): [] removes them from every supplementary " +
				"group. Null leaves the memberships alone.",
			Example: `["docker", "adm"]`},
		{Name: "append", Type: cty.Bool, Default: cty.False,
			Doc:     "true: groups only adds the user to the listed groups and removes them from none.",
			Example: `true`},
		{Name: "shell", Type: cty.String,
			Doc:     "The login shell, an absolute path. Null: the host's default at creation, unmanaged afterwards.",
			Example: `"/bin/bash"`},
		{Name: "home", Type: cty.String,
			Doc: "The home directory, an absolute path. Null: /home/NAME at creation (the host's default), " +
				"unmanaged afterwards. Changing it on an existing user changes the account only: files are " +
				"not moved and the new directory is not created.",
			Example: `"/srv/app"`},
		{Name: "create_home", Type: cty.Bool, Default: cty.True,
			Doc: "Create the home directory (from /etc/skel) when the user is created. Not used for an " +
				"existing user.",
			Example: `false`},
		{Name: "comment", Type: cty.String,
			Doc:     "The GECOS field, usually the full name. Null leaves it as it is.",
			Example: `"Application runner"`},
		{Name: "system", Type: cty.Bool, Default: cty.False,
			Doc: "Create a system account (a uid from the system range, no aging). Only used when the user " +
				"is created.",
			Example: `true`},
		{Name: "password", Type: cty.String,
			Doc: "The password as a crypted hash, as /etc/shadow holds it (`openssl passwd -6` or " +
				"`mkpasswd -m sha-512` make one); plain text is refused. It is compared on the host with " +
				"the shadow entry, set with chpasswd -e from a file (never on a command line), and never " +
				"shown. Null leaves the password alone (a new user's is then locked).",
			Example: `var.app_password_hash`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc: "present: the user exists as declared. absent: the user is removed (userdel) when it " +
				"exists; then only name and remove are used.",
			Example: `"absent"`},
		{Name: "remove", Type: cty.Bool, Default: cty.False,
			Doc:     "With state = \"absent\": also remove the home directory and mail spool (userdel -r).",
			Example: `true`},
		{Name: "authorized_keys", Type: cty.List(cty.String),
			Doc: "OpenSSH public key lines (options and comment allowed) for ~/.ssh/authorized_keys, " +
				"each checked to parse. The directory is kept at mode 0700 and the file at 0600, both owned " +
				"by the user and their primary group; the file is replaced atomically. A symbolic link at " +
				"either path is an error: it could redirect the write. A new user without a declared home " +
				"gets /home/NAME (given to useradd explicitly), where the keys then go. Null leaves the file alone.",
			Example: `["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICCXVWlGzdgPAjsgaicVxbq55lfHRA40PSatsMz7bfvM alice@laptop"]`},
		{Name: "exclusive", Type: cty.Bool, Default: cty.True,
			Doc: "For authorized_keys: true means the file holds exactly these keys, in this order (other " +
				"lines are removed); false only adds missing keys and rewrites lines whose key is listed " +
				"with other options or comment, keeping every other line.",
			Example: `false`},
	}
}

// cryptRE is a crypt(3) hash as /etc/shadow stores it: $id$[params$]salt$hash
// (MD5, SHA-256/512, bcrypt, yescrypt...), optionally behind ! (locked).
// It refuses plain text, which would be stored as is and never match a
// login, and any : or newline, which would break the shadow line.
var cryptRE = regexp.MustCompile(`^!?\$[0-9a-z]+\$[A-Za-z0-9./$,=+-]+$`)

// resource is a user configured for one host.
type resource struct {
	name  string
	state string

	uid        uint32
	uidSet     bool
	group      string // primary group, a name or gid; "" leaves it
	groups     []string
	groupsSet  bool
	append     bool
	shell      string
	home       string
	comment    string
	commentSet bool
	createHome bool
	system     bool
	password   string // crypted; "" leaves it
	remove     bool

	keys      []authKey
	keysSet   bool
	exclusive bool

	sensitive map[string]bool
}

// New validates c and builds a user resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		name:      r.Required("name"),
		state:     r.OneOf("state", "present", "absent"),
		home:      r.AbsPath("home", false),
		sensitive: c.Sensitive,
	}
	if res.name != "" && !account.ValidName(res.name) {
		r.Errorf("name", "%s is not a valid user name (lowercase letters, digits, _ . -, starting with a letter or _, at most 32 characters)", r.Quote("name", res.name))
	}
	res.uid, res.uidSet = account.ReadID(r, "uid")
	res.group = r.Account("group")
	if v := r.Value("groups"); !v.IsNull() && v.IsWhollyKnown() {
		res.groupsSet = true
		for _, g := range r.Strings("groups") {
			if !account.ValidName(g) {
				r.Errorf("groups", "%s is not a group name", r.Quote("groups", g))
			}
			res.groups = append(res.groups, g)
		}
		slices.Sort(res.groups)
		res.groups = slices.Compact(res.groups)
	}
	res.append, _ = r.Bool("append")
	res.shell = r.AbsPath("shell", false)
	res.comment, res.commentSet = r.String("comment")
	res.createHome, _ = r.Bool("create_home")
	res.system, _ = r.Bool("system")
	res.remove, _ = r.Bool("remove")
	res.exclusive, _ = r.Bool("exclusive")
	for _, f := range []struct {
		name, val string
	}{{"home", res.home}, {"shell", res.shell}, {"comment", res.comment}} {
		if strings.ContainsAny(f.val, ":\n\r") {
			r.Errorf(f.name, "must not contain a colon or a line break: they would break the passwd entry")
		}
	}
	if pw, set := r.String("password"); set {
		// The value is never quoted, sensitive variable or not: it is a
		// password hash.
		if !cryptRE.MatchString(pw) {
			r.Errorf("password", "is not a crypted password hash like the output of `openssl passwd -6` ($6$salt$hash); plain-text passwords are refused")
		} else {
			res.password = pw
		}
	}
	if v := r.Value("authorized_keys"); !v.IsNull() && v.IsWhollyKnown() {
		res.keysSet = true
		lines := r.Strings("authorized_keys")
		res.keys = parseKeys(r, lines)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// show is a value for a summary or an error: hidden when it came from a
// sensitive variable.
func (res *resource) show(attrName, v string) string {
	if res.sensitive[attrName] {
		return "(sensitive)"
	}
	return v
}

// hidesCommand reports whether an account command embeds a sensitive
// value (the password never goes into one).
func (res *resource) hidesCommand() bool {
	for _, a := range []string{"name", "uid", "group", "groups", "shell", "home", "comment"} {
		if res.sensitive[a] {
			return true
		}
	}
	return false
}

func (res *resource) probe(h *modules.Host) modules.Probe {
	q := facts.UserQuery{Name: res.name, Tools: account.ProbeTools(h)}
	if res.state == "present" {
		q.Password = res.password
		if res.keysSet {
			q.Keys, q.Home = true, res.home
		}
	}
	return facts.UserProbe(q)
}

// Probes asks, in one command, for the account, its groups and as declared
// its password's match and authorized_keys.
func (res *resource) Probes(h *modules.Host) []modules.Probe {
	return []modules.Probe{res.probe(h)}
}

// Plan creates, changes or removes the user, then sets the password and
// the authorized_keys, in that order: each needs the account to exist.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	r, err := facts.Get(f, res.probe(h))
	if err != nil {
		return nil, err
	}
	u, err := facts.ParseUser(r)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", res.name, err)
	}
	busybox := u.Tools == "busybox"
	if res.state == "absent" {
		return res.planAbsent(u, busybox)
	}
	var acts []modules.Action
	if !u.Exists {
		a, err := res.create(busybox)
		if err != nil {
			return nil, err
		}
		acts = append(acts, a)
	} else {
		a, err := res.change(u, busybox)
		if err != nil {
			return nil, err
		}
		acts = append(acts, a...)
	}
	if res.password != "" && (!u.Exists || u.Password != "same") {
		acts = append(acts, res.setPassword())
	}
	if res.keysSet {
		a, err := res.planKeys(u)
		if err != nil {
			return nil, err
		}
		acts = append(acts, a...)
	}
	return acts, nil
}

func (res *resource) planAbsent(u facts.UserState, busybox bool) ([]modules.Action, error) {
	if !u.Exists {
		return nil, nil
	}
	if u.Passwd.UID == 0 {
		return nil, fmt.Errorf("refusing to remove user %s: it has uid 0 (root)", res.name)
	}
	q := transport.ShellQuote(res.name)
	a := modules.Action{Summary: "remove user " + res.show("name", res.name), Sensitive: res.sensitive["name"]}
	switch {
	case busybox && res.remove:
		a.Command = "deluser --remove-home " + q
	case busybox:
		a.Command = "deluser " + q
	case res.remove:
		a.Command = "userdel -r " + q
	default:
		a.Command = "userdel " + q
	}
	if res.remove {
		a.Summary += " and its home directory " + u.Passwd.Home
	}
	return []modules.Action{a}, nil
}

// newHome is where a new user's home will be: declared, or /home/NAME,
// which the create command then passes explicitly when the keys need to
// know it.
func (res *resource) newHome() string {
	if res.home != "" {
		return res.home
	}
	return "/home/" + res.name
}

// create is the action that makes the user.
func (res *resource) create(busybox bool) (modules.Action, error) {
	var parts []string
	if res.system {
		parts = append(parts, "system")
	}
	if res.uidSet {
		parts = append(parts, "uid "+res.show("uid", strconv.FormatUint(uint64(res.uid), 10)))
	}
	if res.group != "" {
		parts = append(parts, "group "+res.show("group", res.group))
	}
	if len(res.groups) > 0 {
		parts = append(parts, "groups "+res.show("groups", strings.Join(res.groups, ", ")))
	}
	summary := "create user " + res.show("name", res.name)
	if len(parts) > 0 {
		summary += " (" + strings.Join(parts, ", ") + ")"
	}
	home := res.home
	if home == "" && res.keysSet {
		home = res.newHome()
	}
	var args []string
	if busybox {
		if res.group != "" && isNumeric(res.group) {
			return modules.Action{}, fmt.Errorf("group: busybox adduser takes a group name, not a gid (%s); name the group or install the shadow package (apk add shadow)", res.show("group", res.group))
		}
		// -D: no password prompt (the account is locked until password
		// sets one). busybox names the comment -g and the group -G.
		args = []string{"adduser", "-D"}
		if res.system {
			args = append(args, "-S")
		}
		if !res.createHome {
			args = append(args, "-H")
		}
		if home != "" {
			args = append(args, "-h", home)
		}
		if res.commentSet {
			args = append(args, "-g", res.comment)
		}
		if res.shell != "" {
			args = append(args, "-s", res.shell)
		}
		if res.group != "" {
			args = append(args, "-G", res.group)
		}
		if res.uidSet {
			args = append(args, "-u", strconv.FormatUint(uint64(res.uid), 10))
		}
		cmd := transport.ShellJoin(append(args, res.name)...)
		// busybox adduser takes one group; the others are joined one by one.
		for _, g := range res.groups {
			if g != res.group {
				cmd += " && addgroup " + transport.ShellJoin(res.name, g)
			}
		}
		return modules.Action{Summary: summary, Command: cmd, Sensitive: res.hidesCommand()}, nil
	}
	args = []string{"useradd"}
	if res.system {
		args = append(args, "-r")
	}
	if res.uidSet {
		args = append(args, "-u", strconv.FormatUint(uint64(res.uid), 10))
	}
	if res.group != "" {
		args = append(args, "-g", res.group)
	}
	if len(res.groups) > 0 {
		args = append(args, "-G", strings.Join(res.groups, ","))
	}
	if res.shell != "" {
		args = append(args, "-s", res.shell)
	}
	if home != "" {
		args = append(args, "-d", home)
	}
	if res.commentSet {
		args = append(args, "-c", res.comment)
	}
	if res.createHome {
		args = append(args, "-m")
	} else {
		args = append(args, "-M")
	}
	return modules.Action{Summary: summary, Command: transport.ShellJoin(append(args, res.name)...), Sensitive: res.hidesCommand()}, nil
}

// change is the action that brings an existing user's account fields and
// groups to the declaration; none when they are right.
func (res *resource) change(u facts.UserState, busybox bool) ([]modules.Action, error) {
	p := u.Passwd
	var parts, flags, fixed []string // fixed: fields busybox cannot change
	if res.uidSet && p.UID != res.uid {
		parts = append(parts, fmt.Sprintf("uid %d → %s", p.UID, res.show("uid", strconv.FormatUint(uint64(res.uid), 10))))
		flags = append(flags, "-u", strconv.FormatUint(uint64(res.uid), 10))
		fixed = append(fixed, "uid")
	}
	if res.group != "" && res.group != u.Primary && res.group != strconv.FormatUint(uint64(p.GID), 10) {
		parts = append(parts, "primary group "+u.Primary+" → "+res.show("group", res.group))
		flags = append(flags, "-g", res.group)
		fixed = append(fixed, "primary group")
	}
	if res.shell != "" && p.Shell != res.shell {
		parts = append(parts, "shell "+p.Shell+" → "+res.show("shell", res.shell))
		flags = append(flags, "-s", res.shell)
		fixed = append(fixed, "shell")
	}
	if res.home != "" && p.Home != res.home {
		parts = append(parts, "home "+p.Home+" → "+res.show("home", res.home))
		flags = append(flags, "-d", res.home)
		fixed = append(fixed, "home")
	}
	if res.commentSet && p.Gecos != res.comment {
		parts = append(parts, fmt.Sprintf("comment %q → %s", p.Gecos, res.show("comment", strconv.Quote(res.comment))))
		flags = append(flags, "-c", res.comment)
		fixed = append(fixed, "comment")
	}
	if busybox && len(fixed) > 0 {
		return nil, fmt.Errorf("user %s: busybox has no usermod, so its %s cannot be changed (%s); install the shadow package (apk add shadow) or change it by hand",
			res.show("name", res.name), strings.Join(fixed, ", "), strings.Join(parts, "; "))
	}
	var extra []string // busybox's group commands
	if res.groupsSet {
		add, del := res.groupChanges(u)
		if len(add) > 0 {
			parts = append(parts, "add to groups "+res.show("groups", strings.Join(add, ", ")))
		}
		if len(del) > 0 {
			parts = append(parts, "remove from groups "+res.show("groups", strings.Join(del, ", ")))
		}
		switch {
		case len(add)+len(del) == 0:
		case busybox:
			for _, g := range add {
				extra = append(extra, "addgroup "+transport.ShellJoin(res.name, g))
			}
			for _, g := range del {
				extra = append(extra, "delgroup "+transport.ShellJoin(res.name, g))
			}
		case res.append:
			flags = append(flags, "-a", "-G", strings.Join(add, ","))
		default:
			// The whole list: usermod -G sets exactly these groups, and
			// an empty list removes the user from every one.
			flags = append(flags, "-G", strings.Join(res.wantGroups(u), ","))
		}
	}
	if len(parts) == 0 {
		return nil, nil
	}
	cmds := extra
	if len(flags) > 0 {
		cmds = append([]string{"usermod " + transport.ShellJoin(append(flags, res.name)...)}, extra...)
	}
	return []modules.Action{{
		Summary:   "change " + res.show("name", res.name) + ": " + strings.Join(parts, "; "),
		Command:   strings.Join(cmds, " && "),
		Sensitive: res.hidesCommand(),
	}}, nil
}

// wantGroups are the declared supplementary groups without the primary
// group, declared or current: membership of it is implied, and id does not
// list it twice. A declared primary group given as the current gid is the
// current group, by name.
func (res *resource) wantGroups(u facts.UserState) []string {
	primary := []string{res.group}
	if res.group == "" || res.group == u.Primary || res.group == strconv.FormatUint(uint64(u.Passwd.GID), 10) {
		primary = append(primary, u.Primary)
	}
	var out []string
	for _, g := range res.groups {
		if !slices.Contains(primary, g) {
			out = append(out, g)
		}
	}
	return out
}

// groupChanges lists the groups to join and, unless append, to leave.
func (res *resource) groupChanges(u facts.UserState) (add, del []string) {
	want := res.wantGroups(u)
	for _, g := range want {
		if !slices.Contains(u.Groups, g) {
			add = append(add, g)
		}
	}
	if !res.append {
		for _, g := range u.Groups {
			if !slices.Contains(want, g) {
				del = append(del, g)
			}
		}
		slices.Sort(del)
	}
	return add, del
}

// passwordFile holds "name:hash" for chpasswd between the upload and the
// command. An upload, because a command line travels through sudo's argv:
// the host's process list and sudo's log would show the hash. /run is a
// root-only tmpfs, so the hash never reaches a disk there.
func (res *resource) passwordFile() string { return "/run/opsrun-password-" + res.name }

// setPassword is the action that sets the password hash. It is always
// sensitive: a password hash is not shown, whether or not it came from a
// sensitive variable.
func (res *resource) setPassword() modules.Action {
	q := transport.ShellQuote(res.passwordFile())
	return modules.Action{
		Summary: "set " + res.show("name", res.name) + "'s password",
		Upload: &modules.Upload{
			Path:    res.passwordFile(),
			Content: []byte(res.name + ":" + res.password + "\n"),
			Mode:    0o600,
		},
		Command:   "chpasswd -e < " + q + "; s=$?; rm -f " + q + "; exit $s",
		Sensitive: true,
	}
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
