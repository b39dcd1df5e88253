#!/bin/sh
# Cacherr's container entrypoint: run the command as PUID:PGID with UMASK, the
# Unraid way (99:100 = nobody:users, 022), owning the config folder.
#
#   PUID, PGID          numeric ids to run as (default 99 and 100)
#   UMASK               octal umask of new files (default 022)
#   CACHERR_CONFIG_DIR  the config folder to own (default /config)
#   CACHERR_ALLOW_ROOT  1 to allow PUID=0 (Cacherr renames media files: running it as
#                       root hides permission mistakes and makes files only root owns)
#
# Only entries of the config folder not already owned by PUID:PGID are changed, so a
# restart touches nothing. Started as non-root (docker run --user), it cannot switch
# users and runs the command as it is.
set -eu

say() { echo "cacherr-entrypoint: $*" >&2; }
die() {
	say "$*"
	exit 64
}

# Unraid passes a template's blank fields as empty variables; an empty CACHERR_* would
# override (and lock) the value saved from the page, so blank means unset.
for name in $(env | sed -n 's/^\(CACHERR_[A-Za-z0-9_]*\)=$/\1/p'); do
	unset "$name"
done

PUID=${PUID:-99}
PGID=${PGID:-100}
UMASK=${UMASK:-022}
CONFIG_DIR=${CACHERR_CONFIG_DIR:-/config}
ALLOW_ROOT=${CACHERR_ALLOW_ROOT:-0}

case $PUID in '' | *[!0-9]*) die "PUID must be a number, got '$PUID'" ;; esac
case $PGID in '' | *[!0-9]*) die "PGID must be a number, got '$PGID'" ;; esac
case $UMASK in [0-7][0-7][0-7] | [0-7][0-7][0-7][0-7]) ;; *) die "UMASK must be octal like 022, got '$UMASK'" ;; esac

[ "$#" -gt 0 ] || set -- cacherr run
umask "$UMASK"

if [ "$(id -u)" != 0 ]; then
	say "started as $(id -u):$(id -g), not root: PUID/PGID ignored"
	exec "$@"
fi

if [ "$PUID" = 0 ] && [ "$ALLOW_ROOT" != 1 ]; then
	die "PUID=0 would run Cacherr as root; use Unraid's 99 (nobody), or set CACHERR_ALLOW_ROOT=1"
fi

# A name for the ids: an existing entry is reused (e.g. 100 is Debian's 'users'). Unraid's
# ids (99) lie below the distribution's UID_MIN: -K widens the range, so no warning.
free_name() { # free_name DATABASE BASE ID -> BASE, or BASE-ID when BASE is taken
	if getent "$1" "$2" >/dev/null; then echo "$2-$3"; else echo "$2"; fi
}
if ! getent group "$PGID" >/dev/null; then
	groupadd -K GID_MIN=1 -K GID_MAX=2147483647 --gid "$PGID" "$(free_name group cacherr "$PGID")"
fi
if ! getent passwd "$PUID" >/dev/null; then
	useradd -K UID_MIN=1 -K UID_MAX=2147483647 --uid "$PUID" --gid "$PGID" \
		--no-create-home --home-dir "$CONFIG_DIR" \
		--shell /usr/sbin/nologin "$(free_name passwd cacherr "$PUID")"
fi
USER_NAME=$(getent passwd "$PUID" | cut -d: -f1)

mkdir -p "$CONFIG_DIR"
wrong=$(find "$CONFIG_DIR" -xdev \( ! -user "$PUID" -o ! -group "$PGID" \) -print | wc -l)
if [ "$wrong" -gt 0 ]; then
	say "giving $wrong entries of $CONFIG_DIR to $PUID:$PGID"
	find "$CONFIG_DIR" -xdev \( ! -user "$PUID" -o ! -group "$PGID" \) \
		-exec chown -h "$PUID:$PGID" {} + ||
		say "warning: could not change the owner of everything in $CONFIG_DIR"
fi

export HOME="$CONFIG_DIR" USER="$USER_NAME"
say "running as $USER_NAME ($PUID:$PGID), umask $UMASK"
exec setpriv --reuid="$PUID" --regid="$PGID" --clear-groups --inh-caps=-all --no-new-privs -- "$@"
