"""The documentation the settings table makes is the one committed: the
configuration file, harvestd.conf(5), docs/configuration.md and the job
field table of docs/api.md (`make docs` rewrites them)."""
import os
import re
import subprocess
import unittest

SRC = os.environ.get("HARVESTD_SRCDIR", ".")
MKDOC = os.environ.get("HARVESTD_MKDOC", "./conf/mkdoc")


def mkdoc(*args):
    return subprocess.run([MKDOC] + list(args), check=True,
                          capture_output=True, text=True).stdout


class DocsTest(unittest.TestCase):
    def check(self, kind, rel):
        with open(os.path.join(SRC, rel), encoding="utf-8") as f:
            committed = f.read()
        self.assertEqual(committed, mkdoc(*kind),
                         "%s is out of date: run `make docs`" % rel)

    def test_conf_file(self):
        self.check(["conf"], "etc/harvestd.conf")

    def test_man_page(self):
        self.check(["man"], "man/harvestd.conf.5")

    def test_configuration_md(self):
        self.check(["markdown"], "docs/configuration.md")

    def test_api_job_fields(self):
        self.check(["splice", os.path.join(SRC, "docs/api.md")],
                   "docs/api.md")
        # Every job field is in the table, with its type.
        table = mkdoc("jobfields")
        for field in ("timeout_ms", "priority", "headers", "callback_url"):
            self.assertIn("| `%s` |" % field, table)

    def test_operations_lists_installed_files(self):
        # Every program and man page make install puts is in the table of
        # docs/operations.md (paths as with --prefix=/usr).
        with open(os.path.join(SRC, "Makefile.am"), encoding="utf-8") as f:
            am = f.read()
        with open(os.path.join(SRC, "docs", "operations.md"),
                  encoding="utf-8") as f:
            ops = f.read()
        table = ops[ops.index("`make install` puts:"):]
        table = table[:table.index("\n\n", table.index("|"))]
        wanted = []
        for var, where in (("sbin_PROGRAMS", "/usr/sbin/"),
                           ("bin_PROGRAMS", "/usr/bin/")):
            m = re.search(r"^%s\s*=\s*(.+)$" % var, am, re.M)
            wanted += ["`%s%s`" % (where, p) for p in m.group(1).split()]
        m = re.search(r"^dist_man_MANS\s*=\s*(.+)$", am, re.M)
        for page in m.group(1).split():
            name, section = os.path.basename(page).rsplit(".", 1)
            wanted.append("`%s(%s)`" % (name, section))
        self.assertGreater(len(wanted), 4)
        for w in wanted:
            self.assertIn(w, table, "docs/operations.md does not list "
                          "%s among the installed files" % w)

    def test_help_lists_every_key(self):
        out = subprocess.run([os.environ.get("HARVESTD", "./harvestd"),
                              "--help"], check=True, capture_output=True,
                             text=True).stdout
        conf = mkdoc("conf")
        keys = [line.split(" = ")[0] for line in conf.splitlines()
                if " = " in line and not line.startswith("#")]
        self.assertGreater(len(keys), 40)
        for key in keys:
            self.assertIn("  %s " % key, out)


if __name__ == "__main__":
    unittest.main()
