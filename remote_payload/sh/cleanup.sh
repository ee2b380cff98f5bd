# A cleanup of a finished job: erase its files. A record with a "started" key may be
# running: the wrapper decides (JSON escapes the quotes inside strings, so only a real key
# matches); grep's 1 means none: erase.
# After head.sh: $1 async dir, $3 jid.
f=$1/$3
if [ ! -e "$f" ]; then s missing; exit 0; fi
grep -q '"started"[[:space:]]*:' "$f" 2>/dev/null
case $? in
1) rm -f -- "$f" "$f.tmp" "$f.stdout" "$f.stderr" "$f.kill" "$f.script" && s erased;;
*) s undecided;;
esac
