#!/usr/bin/env bash
# Installs the system packages some tests need (Debian's chromium, postgresql and
# libreoffice-calc), when missing and possible.
# Elsewhere those tests skip and say why.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The customer-store tests start their own PostgreSQL server from /usr/lib/postgresql/<ver>/bin.
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
# The workbook test recalculates plan.xlsx with LibreOffice headless.
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-calc)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages for the tests: ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
    || echo "could not install ${need[*]}; the tests that need them will skip"
else
  echo "not root or no apt-get: ${need[*]} missing; the tests that need them will skip"
fi
exit 0
