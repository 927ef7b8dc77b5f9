#!/usr/bin/env bash
# Runs the whole Celeriac test suite on a fresh machine: installs what the tests need, builds once,
# runs every test project, and ends with one line "N passed, N failed" summed from the TRX results.
# Exit status: 0 only when at least one test ran and none failed.
set -uo pipefail
cd "$(dirname "$0")/.."

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
results="artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

echo "== prerequisites"
# The Redis tests start their own private redis-server (free loopback port, temp directory); install it when missing.
if ! command -v redis-server >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null; }; then
    echo "installing redis-server failed: the Redis tests will fail" >&2
  fi
  # The package may start the system service on 6379; the tests never use it, so do not leave it running.
  $sudo service redis-server stop >/dev/null 2>&1 || true
  if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable redis-server >/dev/null 2>&1 || true; fi
fi
# The CleanEnergy PostgreSQL tests start their own private server (initdb + pg_ctl, free loopback port, temp directory);
# install Debian's package when its binaries are missing.
if ! command -v pg_ctl >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null; }; then
    echo "installing postgresql failed: the PostgreSQL tests will fail" >&2
  fi
  # The package may start the system cluster on 5432; the tests never use it, so do not leave it running.
  $sudo service postgresql stop >/dev/null 2>&1 || true
  if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable postgresql >/dev/null 2>&1 || true; fi
fi
# The browser tests drive the system's Chromium headless (through Playwright's bundled driver: no browser download);
# install Debian's package when missing. Nothing is started here: each test starts and stops its own browser.
if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; }; then
    echo "installing chromium failed: the browser tests will fail" >&2
  fi
fi

echo "== build"
if ! dotnet build Celeriac.slnx -c Release -nologo -v:q; then
  echo "0 passed, 1 failed"
  echo "build failed" >&2
  exit 1
fi

echo "== test"
dotnet test Celeriac.slnx -c Release --no-build -nologo \
  --logger "trx" --logger "console;verbosity=minimal" \
  --results-directory "$results" \
  --blame-hang-timeout 5m 2>&1 | tee "$results/console.log"
status=${PIPESTATUS[0]}

passed=0
failed=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done

# A test host that crashed, or that blame-hang stopped, records no result for the test it was running: count that
# test as failed, by the name dotnet test printed for it.
aborted=$(grep -A1 "The test running when the crash occurred:" "$results/console.log" \
  | grep -v -e "The test running when the crash occurred:" -e '^--$' | sed 's/^[[:space:]]*//' | grep -v '^$' || true)
if [ -n "$aborted" ]; then
  failed=$((failed + $(wc -l <<<"$aborted")))
fi

# Name each failed test with the first lines of its message, so the end of the log says what broke.
if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then
  echo "== failed tests"
  while IFS= read -r name; do
    [ -n "$name" ] && echo "FAILED $name"$'\n'"    its test host crashed or hung (blame-hang: 5 min without progress); see the dump and Sequence file under $results"
  done <<<"$aborted"
  if [ "$failed" -eq 0 ]; then
    echo "dotnet test exited with status $status without a failed test result (a test host crashed before any test ran?): see the log above"
    failed=1
  fi
  perl -0777 -ne '
    while (/<UnitTestResult\b([^>]*?)outcome="Failed"[^>]*>(.*?)<\/UnitTestResult>/gs) {
      my ($head, $body) = ($1, $2);
      my ($name) = $head =~ /testName="([^"]*)"/;
      my ($msg) = $body =~ /<Message>(.*?)<\/Message>/s;
      $msg = "" unless defined $msg;
      for ($name, $msg) { s/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&apos;/\x27/g; s/&#xD;//g; s/&#xA;/\n/g; s/&amp;/&/g; }
      my @lines = grep { /\S/ } split /\n/, $msg;
      print "FAILED $name\n";
      print "    $_\n" for @lines[0 .. ($#lines < 5 ? $#lines : 5)];
    }' "$results"/*.trx 2>/dev/null
fi
echo "$passed passed, $failed failed"
if [ "$failed" -gt 0 ] || [ "$passed" -eq 0 ] || [ "$status" -ne 0 ]; then
  exit 1
fi
