/*
 * bare: the least a FastCGI program can do per request, for the benchmark's
 * "limit" baseline.  It reads the request body (as every mcpgate program
 * does) and answers a fixed small JSON document.  Run behind the shipped
 * lighttpd.conf under the names of the mcpgate programs, it shows what the
 * web server and the FastCGI transport cost on their own.
 */
#include <fcgiapp.h>

static const char bare_reply[] = "Status: 200 OK\r\n"
				 "Content-Type: application/json\r\n"
				 "Content-Length: 27\r\n"
				 "\r\n"
				 "{\"jsonrpc\":\"2.0\",\"id\":null}";

int
main(void)
{
	FCGX_Stream *in, *out, *err;
	FCGX_ParamArray envp;
	char sink[4096];

	while (FCGX_Accept(&in, &out, &err, &envp) >= 0) {
		/* Drain the body: bounded by what the web server sends. */
		while (FCGX_GetStr(sink, (int)sizeof(sink), in) > 0)
			;
		FCGX_PutStr(bare_reply, (int)(sizeof(bare_reply) - 1), out);
	}
	return 0;
}
