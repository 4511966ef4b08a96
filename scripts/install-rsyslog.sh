#!/usr/bin/env bash
# Installs Debian's rsyslog and rsyslog-gnutls (TLS input) when rsyslogd or its TLS driver is
# missing, for the syslog audit sink's tests (tests/integration/syslog.rs), which start their
# own unprivileged rsyslogd with a config of their own. Needs root and apt-get to install;
# the system's rsyslog service is neither configured nor started here.
set -euo pipefail

driver_present() {
    compgen -G '/usr/lib/*/rsyslog/lmnsd_gtls.so' >/dev/null
}
if [[ -x /usr/sbin/rsyslogd ]] && driver_present; then
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-rsyslog: rsyslog (with rsyslog-gnutls) is missing and cannot be installed" \
        "(needs root and apt-get); install both, or the syslog tests fail" >&2
    exit 1
fi
echo "installing rsyslog and rsyslog-gnutls from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
packages=(rsyslog rsyslog-gnutls)
if ! apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
