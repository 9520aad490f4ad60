package docs

import (
	"fmt"
	"io"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
)

// Markdown writes docs/resources.md: every type's page, then the
// arguments every resource takes.
func Markdown(w io.Writer, reg modules.Registry) error {
	var b strings.Builder
	b.WriteString(`# Resource types

<!-- Generated from the resource schemas by ` + "`make docs`" + ` (opsrun doc --markdown); do not edit. -->

The same text, for one type at a time, is printed by ` + "`opsrun doc TYPE`" + `; ` + "`opsrun doc`" + ` lists the types.

Every resource is planned from facts gathered on the host, so ` + "`opsrun plan`" + ` and
` + "`opsrun run --check`" + ` show exactly the actions (and file diffs) a real run would
take, and a second run of a converged stack changes nothing.

## Platform differences

A resource is written once for every OS family; where they differ, its
arguments are expressions over the host's facts:

` + "```hcl" + `
package "web" {
  name = host.os.family == "rhel" ? "httpd" : "apache2"
}

service "web" {
  name = host.os.family == "rhel" ? "httpd" : "apache2"
}

file "motd" {
  path    = "/etc/motd"
  content = "${host.hostname} runs ${host.os.id} ${host.os.version}\n"
  only_if = host.os.family != "alpine"
}
` + "```" + `

Package managers (apt, dnf, yum, apk, zypper) and init systems (systemd,
OpenRC, sysvinit) are chosen from the facts too; a ` + "`provider`" + ` argument
forces one. The test fleet is Debian only (only Debian's package mirror is
reachable where opsrun is tested), so the other families are proved by
fixture tests built from the real output formats of their tools (` + "`rpm -q`" + `,
` + "`dnf`" + `, ` + "`apk`" + `, ` + "`zypper`" + `, ` + "`rc-service`" + `...), not on live hosts.

## Types

`)
	for _, n := range reg.Names() {
		t, _ := reg.Lookup(n)
		fmt.Fprintf(&b, "- [`%s`](#%s): %s\n", n, n, firstSentence(t.Doc))
	}
	b.WriteString("- [Arguments every resource takes](#arguments-every-resource-takes)\n")
	for _, n := range reg.Names() {
		t, _ := reg.Lookup(n)
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", n, oneLine(t.Doc))
		if t.Notifiable {
			fmt.Fprintf(&b, "\nCan be notified: `notify = [%s.NAME]`.\n", n)
		}
		b.WriteString("\n")
		table(&b, t.Attrs)
		fmt.Fprintf(&b, "\n```hcl\n%s```\n", Example(t))
	}
	b.WriteString("\n## Arguments every resource takes\n\nThe engine acts on these, whatever the type.\n\n")
	table(&b, modules.MetaAttrs())
	_, err := io.WriteString(w, b.String())
	return err
}

func table(b *strings.Builder, attrs []modules.Attr) {
	b.WriteString("| Argument | Type | Default | Description |\n|---|---|---|---|\n")
	for _, a := range attrs {
		def := ""
		switch {
		case a.Required:
			def = "required"
		case a.Default != cty.NilVal && !a.Default.IsNull():
			def = "`" + Value(a.Default) + "`"
		}
		desc := oneLine(a.Doc)
		if a.Example != "" {
			desc += " Example: `" + a.Name + " = " + a.Example + "`."
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", a.Name, TypeName(a.Type), def, cell(desc))
	}
}

// cell keeps text inside one table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
