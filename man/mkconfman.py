#!/usr/bin/env python3
"""Writes man/harvestd.conf.5 from etc/harvestd.conf (run from the top of
the tree after changing the file). test_conf checks they agree."""
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
