#!/usr/bin/env python3
"""Writes man/harvestd.conf.5 (or, with --markdown, docs/configuration.md)
from etc/harvestd.conf. Run from the top of the tree after changing the
file: python3 man/mkconfman.py > man/harvestd.conf.5 and
python3 man/mkconfman.py --markdown > docs/configuration.md.
test_conf checks that all three agree."""
import re
import sys

src = open("etc/harvestd.conf").read()
blocks, comment = [], []
for line in src.splitlines():
    if line.startswith("#"):
        comment.append(line[1:].strip())
        continue
    m = re.match(r"^(\w+) =\s*(.*)$", line)
    if m:
        blocks.append((m.group(1), m.group(2), list(comment)))
        continue
    if not line.strip():
        comment = []


def esc(s):
    return s.replace("\\", "\\\\").replace("-", "\\-")


if "--markdown" in sys.argv:
    md = ["# Configuration", "",
          "Generated from [etc/harvestd.conf](../etc/harvestd.conf) by "
          "`man/mkconfman.py --markdown`; the test suite checks that every "
          "key of the daemon is here.", "",
          "harvestd reads one INI file (`--config FILE`): `key = value` "
          "lines outside any section, `#` or `;` comments. Every key can "
          "also be given on the command line as `--set key=value` (flags "
          "win over the file); `--db`, `--listen`, `--port`, "
          "`--concurrency` and `--log-level` are shortcuts. "
          "`harvestd --config FILE --check-config` prints `configuration "
          "OK` or `FILE:LINE: problem`; `--print-config` prints the "
          "effective configuration. SIGHUP reloads the file (`db`, "
          "`listen` and `port` need a restart). Job fields of the same "
          "name override the per-request keys for one job.", "",
          "| key | default | meaning |", "|---|---|---|"]
    last = None
    for key, val, com in blocks:
        text = " ".join(c for c in com if c)
        if com == last:
            text = "see above"
        last = com
        md.append("| `%s` | `%s` | %s |" % (key, val or "", text.replace(
            "|", "\\|")))
    sys.stdout.write("\n".join(md) + "\n")
    sys.exit(0)

out = ['.TH HARVESTD.CONF 5 "2026-11-25" "harvestd 0.1.0" '
       '"File Formats Manual"',
       ".SH NAME\nharvestd.conf \\- harvestd configuration file",
       ".SH DESCRIPTION\nAn INI file of \\fIkey\\fR = \\fIvalue\\fR lines "
       "outside any section;\nlines starting with ; or # are comments. Each "
       "key can also be set on the\ncommand line with \\fB\\-\\-set\\fR "
       "\\fIkey\\fR=\\fIvalue\\fR, which wins over the file.\n"
       "\\fBharvestd \\-\\-config\\fR \\fIfile\\fR \\fB\\-\\-check\\-config\\fR "
       "reports the\nfirst bad line as \\fIfile\\fR:\\fIline\\fR. SIGHUP "
       "reloads the file.\nJobs may override the per-request settings with "
       "fields of the same name.",
       ".SH KEYS"]
last = None
for key, val, com in blocks:
    out.append(".TP\n.B %s\nDefault: %s." % (key, esc(val)))
    text = " ".join(c for c in com if c)
    if text and com != last:
        out.append(esc(text))
    last = com
out.append(".SH SEE ALSO\n.BR harvestd (8)")
sys.stdout.write("\n".join(out) + "\n")
