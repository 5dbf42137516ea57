#!/bin/bash
# Runs inside a booted Debian 12 container (systemd as PID 1, no network but loopback): installs
# the iamra .deb, binds two roles to two consumer services, exercises the units, purges. Prints
# "CHECK name value" lines that test/package-system.test.ts asserts on. /srv/test is read-only:
#   iamra.deb, pki/{leaf.pem,int.pem,key.pem,root.pem}, botocore-probe.py (this directory's), fake-endpoint.mjs,
#   dist/testing.mjs; /srv/node/bin/node is the shipped runtime.
set -u
say() { printf 'CHECK %s %s\n' "$1" "$(printf '%s' "$2" | tr '\n' ' ')"; }
snap() {
  find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp \
    -o -path /var/log -o -path /var/cache -o -path /var/lib/systemd -o -path /srv -o -path /var/lib/dpkg/status-old \
    -o -path /var/lib/dpkg/available-old -o -path /var/lib/dpkg/diversions-old -o -path /var/lib/dpkg/statoverride-old \
    -o -path /etc/passwd- -o -path /etc/group- -o -path /etc/shadow- -o -path /etc/gshadow- -o -path /var/lib/private \) -prune -o -print | sort
}
show() { systemctl show -p "$2" --value "$1"; }
wait_for() { for _ in $(seq 1 "${2:-100}"); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

snap > /var/tmp/iamra-before.txt
dpkg -i /srv/test/iamra.deb > /var/tmp/iamra-dpkg.log 2>&1; say dpkg-install $?
say user-shell "$(getent passwd iamra | cut -d: -f7)"
say socket-enabled "$(systemctl is-enabled iamra.socket)"
say socket-state-after-install "$(systemctl is-active iamra.socket)"
say pki-dir "$(stat -c '%a %U %G' /etc/iamra/pki)"
say conffiles "$(dpkg-query -W -f='${Conffiles}' iamra | awk '{print $1}' | sort | tr '\n' ' ')"

# The fake endpoint on loopback, as a transient unit running the shipped runtime.
systemd-run --quiet --unit iamra-fake -p Type=exec /srv/node/bin/node /srv/test/fake-endpoint.mjs /srv/test/dist/testing.mjs /srv/test/pki/root.pem 7799
wait_for 'python3 -c "import socket; socket.create_connection((\"127.0.0.1\", 7799), 1)"'; say fake-endpoint $?

install -m 0640 -o root -g iamra /srv/test/pki/leaf.pem /etc/iamra/pki/app.crt
install -m 0640 -o root -g iamra /srv/test/pki/int.pem /etc/iamra/pki/int.pem
install -m 0640 -o root -g iamra /srv/test/pki/key.pem /etc/iamra/pki/app.key
for n in app-a app-b; do
  cat > /etc/iamra/bind/$n.conf <<CONF
CERTIFICATE=/etc/iamra/pki/app.crt
PRIVATE_KEY=/etc/iamra/pki/app.key
TRUST_ANCHOR_ARN=arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0b3f6a2e-7c41-4d8e-9a15-3e2f6b8c9d01
PROFILE_ARN=arn:aws:rolesanywhere:us-east-1:123456789012:profile/6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e
ROLE_ARN=arn:aws:iam::123456789012:role/$n
BIND_OPTIONS=--intermediates /etc/iamra/pki/int.pem --endpoint http://127.0.0.1:7799
CONF
  cat > /etc/systemd/system/$n.service <<UNIT
[Unit]
Requires=iamra-bind@$n.service
After=iamra-bind@$n.service
[Service]
Type=oneshot
EnvironmentFile=/run/iamra/env/$n
Environment=AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true HOME=/nonexistent
DynamicUser=yes
ExecStart=/usr/bin/python3 /srv/test/botocore-probe.py
UNIT
done
systemctl daemon-reload
systemctl enable --now iamra.socket; say socket-state "$(systemctl is-active iamra.socket)"
say service-before-first-connection "$(systemctl is-active iamra.service)"

consume() { # $1 unit: starts it, prints the probe's JSON line
  systemctl start "$1" >/dev/null 2>&1
  journalctl -q -u "$1" -o cat --no-pager | grep '^{' | tail -1
}
say app-a "$(consume app-a.service)"
say app-b "$(consume app-b.service)"
say service-state "$(systemctl is-active iamra.service)"
say service-type "$(show iamra.service Type) $(show iamra.service NotifyAccess)"
say status-text "$(show iamra.service StatusText)"

# Watchdog: a short WatchdogSec, the pings keep the service alive and advance the timestamp.
mkdir -p /etc/systemd/system/iamra.service.d
printf '[Service]\nWatchdogSec=2s\n' > /etc/systemd/system/iamra.service.d/watchdog.conf
systemctl daemon-reload
systemctl restart iamra.service
pid0=$(show iamra.service MainPID); w1=$(show iamra.service WatchdogTimestampMonotonic)
sleep 5
w2=$(show iamra.service WatchdogTimestampMonotonic)
say watchdog "$(show iamra.service WatchdogUSec) same-pid=$([ "$pid0" = "$(show iamra.service MainPID)" ] && echo yes || echo no) pinged=$([ "$w2" != "$w1" ] && [ "$w2" != 0 ] && echo yes || echo no) state=$(systemctl is-active iamra.service)"

# Hardening: from inside the service's mount namespace, as its user.
pid=$(show iamra.service MainPID)
probe_write() { nsenter -t "$pid" -m setpriv --reuid=iamra --regid=iamra --clear-groups sh -c "touch $1 2>&1 && echo WROTE" | tail -1; }
say write-etc "$(probe_write /etc/iamra/probe)"
say write-var "$(probe_write /var/lib/probe)"
say write-run "$(probe_write /run/iamra/probe)"
say run-mount "$(nsenter -t "$pid" -m findmnt -no OPTIONS -T /run/iamra)"
say write-usr "$(probe_write /usr/lib/iamra/probe)"
say write-tmp "$(probe_write /tmp/probe)"
say privileges "$(grep -E '^(NoNewPrivs|CapEff):' /proc/$pid/status | tr -s '\t ' ' ')"

# A crash: Restart=on-failure brings it back, still socket-activated; a consumer gets credentials.
restarts=$(show iamra.service NRestarts)
kill -9 "$pid"
wait_for '[ "$(show iamra.service NRestarts)" -gt '"$restarts"' ] && [ "$(systemctl is-active iamra.service)" = active ]' 300
say restart "$(( $(show iamra.service NRestarts) - restarts )) $(systemctl is-active iamra.service)"
say app-a-after-restart "$(systemctl restart app-a.service >/dev/null 2>&1; journalctl -q -u app-a.service -o cat --no-pager | grep '^{' | tail -1)"

systemctl stop iamra.socket iamra.service
say stop "$(systemctl is-active iamra.service) $(show iamra.service Result) $(systemctl is-active iamra.socket)"

# Remove (configuration kept), then purge: the file list is what it was before the install.
systemctl stop app-a.service app-b.service 'iamra-bind@*' iamra-fake >/dev/null 2>&1
rm -f /etc/systemd/system/app-a.service /etc/systemd/system/app-b.service /etc/iamra/bind/*.conf /etc/iamra/pki/*
rm -rf /etc/systemd/system/iamra.service.d
systemctl daemon-reload
dpkg -r iamra >> /var/tmp/iamra-dpkg.log 2>&1; say dpkg-remove "$? $( [ -f /etc/default/iamra ] && echo config-kept) $( [ -e /usr/bin/iamra ] || echo binary-gone)"
dpkg --purge iamra >> /var/tmp/iamra-dpkg.log 2>&1; say dpkg-purge $?
snap > /var/tmp/iamra-after.txt
say file-list-diff "$(diff /var/tmp/iamra-before.txt /var/tmp/iamra-after.txt | grep '^[<>]' | head -20)"
say dpkg-log "$(grep -iE 'warn|error|fail' /var/tmp/iamra-dpkg.log | head -5)"
cat /var/tmp/iamra-dpkg.log >&2
