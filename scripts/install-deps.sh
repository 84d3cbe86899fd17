#!/usr/bin/env bash
# Installs what netprobe needs on Debian 12, as root. Only missing packages
# are installed (apt-get update runs only then).
#   scripts/install-deps.sh          build and run dependencies
#   scripts/install-deps.sh --test   also the test peers and tools
set -euo pipefail

pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libcurl4-openssl-dev
      libc-ares-dev libjansson-dev libgnutls28-dev libnghttp2-dev libssl-dev ca-certificates
      netbase)  # netbase: /etc/services, the port names /scan reports
if [[ "${1:-}" == "--test" ]]; then
	pkgs+=(libcmocka-dev clang-14 libclang-rt-14-dev python3 openssl
	       nsd unbound dnsutils knot-dnsutils nginx-light wrk netcat-openbsd
	       prometheus iproute2 curl valgrind chromium nmap time)
	# Node.js may come from elsewhere than Debian (its npm then conflicts
	# with Debian's): install Debian's only when there is none.
	command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# Installing packages must not start their services: the tests start
	# their own peers on loopback.
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi
