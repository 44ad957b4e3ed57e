#!/usr/bin/env bash
# MCP Inspector's CLI (npm @modelcontextprotocol/inspector, `mcp-inspector
# --cli`) lists and calls the tools, and reads the snippet resources, with an
# access token that a client obtained through the real flow (registration,
# authorize, consent, token: clients/get_token.mjs), passed with --header.
# Through lighttpd and Apache, over Streamable HTTP (/mcp) and HTTP+SSE
# (/mcp/sse).  Inspector 1.0.3 is pinned: the last v1, whose CLI runs on
# Node 20 (v2 needs Node 22).
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/clients/lib.sh"

e2e_require @modelcontextprotocol/sdk @modelcontextprotocol/inspector
for p in metadata register authorize consent token message sse; do
	_lib_need_bin "$p"
done
INSPECTOR=$E2E/node_modules/@modelcontextprotocol/inspector/cli/build/cli.js

# insp OUT ARGS...: one CLI run; JSON on stdout -> $TEST_OUT/OUT.json; sets
# INSP_STATUS and INSP (the output).
insp() {
	local out=$1
	shift
	timeout 30 node "$INSPECTOR" --cli "$@" >"$TEST_OUT/$out.json" 2>"$TEST_OUT/$out.log"
	INSP_STATUS=$?
	INSP=$(cat "$TEST_OUT/$out.json")
}
j() { printf '%s' "$INSP" | jq -r "$@" 2>/dev/null; }

htpasswd=$(make_htpasswd alice 'pw-alice!')

# run SERVER TRANSPORT URL: the whole set of checks against one endpoint.
run() {
	local tag="$1 $2" url=$3 transport=$2 name uri
	local -a auth=(--transport "$transport" --header "Authorization: Bearer $TOKEN")
	name=inspector-$RANDOM$RANDOM

	insp "$1-$2-noauth" "$url" --transport "$transport" --method tools/list
	[ "$INSP_STATUS" -ne 0 ] && grep -qiE '401|unauthori|bearer token is required' "$TEST_OUT/$1-$2-noauth.log"
	ok $? "$tag: without the token the CLI is refused (401)"

	insp "$1-$2-list" "$url" "${auth[@]}" --method tools/list
	is "$INSP_STATUS" 0 "$tag: tools/list exits 0"
	is "$(j '[.tools[].name]|sort|join(",")')" \
		delete_snippet,get_snippet,hello_mcp,list_snippets,save_snippet "$tag: tools/list: the five tools"
	is "$(j '.tools[]|select(.name=="get_snippet")|.inputSchema.required|join(",")')" snippetname \
		"$tag: tools/list: get_snippet requires snippetname"

	insp "$1-$2-hello" "$url" "${auth[@]}" --method tools/call --tool-name hello_mcp
	is "$INSP_STATUS $(j .isError)" "0 false" "$tag: hello_mcp"
	like "$(j '.content[0].text')" alice "$tag: hello_mcp greets alice"

	insp "$1-$2-save" "$url" "${auth[@]}" --method tools/call --tool-name save_snippet \
		--tool-arg "snippetname=$name" "snippet=from the inspector, $tag"
	is "$INSP_STATUS $(j .isError)" "0 false" "$tag: save_snippet"
	like "$(j '.content[0].text')" "$name" "$tag: save_snippet names the snippet"

	insp "$1-$2-get" "$url" "${auth[@]}" --method tools/call --tool-name get_snippet \
		--tool-arg "snippetname=$name"
	is "$(j '.content[0].text')" "from the inspector, $tag" "$tag: get_snippet reads it back"

	insp "$1-$2-listsn" "$url" "${auth[@]}" --method tools/call --tool-name list_snippets
	like "$INSP" "$name" "$tag: list_snippets lists it"

	insp "$1-$2-res" "$url" "${auth[@]}" --method resources/list
	# shellcheck disable=SC2016 # $n is jq's
	uri=$(j --arg n "$name" '.resources[]|select(.name==$n)|.uri')
	like "$uri" "$name" "$tag: resources/list has it"
	insp "$1-$2-read" "$url" "${auth[@]}" --method resources/read --uri "$uri"
	is "$(j '.contents[0].text')" "from the inspector, $tag" "$tag: resources/read reads it"

	insp "$1-$2-del" "$url" "${auth[@]}" --method tools/call --tool-name delete_snippet \
		--tool-arg "snippetname=$name"
	is "$INSP_STATUS $(j .isError)" "0 false" "$tag: delete_snippet"
	insp "$1-$2-gone" "$url" "${auth[@]}" --method tools/call --tool-name get_snippet \
		--tool-arg "snippetname=$name"
	is "$(j .isError)" true "$tag: get_snippet after delete: isError"
	like "$(j '.content[0].text')" "no snippet named" "$tag: get_snippet after delete: the message"

	insp "$1-$2-bad" "$url" "${auth[@]}" --method tools/call --tool-name get_snippet \
		--tool-arg "snippetname=../etc/passwd"
	[ "$INSP_STATUS" -ne 0 ] || [ "$(j .isError)" = true ]
	ok $? "$tag: an invalid snippet name is refused"
}

for server in lighttpd apache; do
	"start_$server" --htpasswd "$htpasswd" --conf-line 'rate_limit_authorize = 0'
	e2e_token "$SRV_PUBLIC_URL/mcp" --basic 'alice:pw-alice!'
	ok $? "$server: an access token through the OAuth flow" || continue
	run "$server" http "$SRV_PUBLIC_URL/mcp"
	run "$server" sse "$SRV_PUBLIC_URL/mcp/sse"
done

done_testing
