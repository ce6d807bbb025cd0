package indicators

import "slices"

// Indicator describes one content indicator: a pattern web shells show and
// legitimate code rarely does.
type Indicator struct {
	// ID is stable (it is what overrides, alerts and suppressions refer
	// to): "<family>.<name>", or "any.<name>" for every family.
	ID string `json:"id"`
	// Family is the language family it applies to; FamilyNone means all.
	Family Family `json:"family"`
	// Weight is the default score it adds to a file (once per file,
	// however often it matches).
	Weight int `json:"weight"`
	// Description says in one line what was seen and why it matters.
	Description string `json:"description"`
}

// indicator indexes: the order of catalog.
type ind int

const (
	phpRequestExec ind = iota
	phpRequestEval
	phpRequestCallable
	phpRequestInclude
	phpRequestVarCall
	phpRequestFlow
	phpEvalDecoder
	phpDecoderChain
	phpDecoderBlob
	phpEvalDynamic
	phpEval
	phpExec
	phpPregE
	phpCreateFunction
	phpVarCallBuilt
	phpSuperglobalIndirect
	phpRequestWrite
	phpFunctionProbe
	phpCmdParam
	phpIncludeWrapper
	phpLDPreload

	aspRequestEval
	aspEvalUnsafe
	aspRequestExec
	aspShellObject
	aspAssemblyLoad
	aspRequestAssemblyLoad
	aspEvalDynamic
	aspRequestWrite

	jspRequestExec
	jspExec
	jspRequestClassLoad
	jspDefineClass
	jspRequestEval
	jspScriptEval
	jspRequestWrite
	jspServerInternals

	cgiRequestExec
	cgiExec
	cgiEvalDecoder
	cgiEvalDynamic
	cgiRequestWrite

	cfmRequestExec
	cfmExecute
	cfmRequestEval
	cfmRequestWrite

	ssiExec

	anyShellMarker
	anyCmdForm
	anyReverseShell
	anyBase64Blob
	anyHexBlob
	anyEscapeBlob
	anyCharChain
	anyLongLine

	numIndicators
)

// catalog is the rule catalog, indexed by ind. Weights are tuned so that
// one strong indicator (request input reaching an execution sink) is high
// on its own, a suspicious construct needs company to reach medium, and
// obfuscation alone stays low (legitimate code ships minified or encoded
// data too): see docs/indicators.md.
var catalog = [numIndicators]Indicator{
	phpRequestExec:         {"php.request-exec", FamilyPHP, 85, "request input in the arguments of an OS command function (system, exec, shell_exec, passthru, popen, proc_open, pcntl_exec), of a backtick command or in mail()'s fifth argument (sendmail options)"},
	phpRequestEval:         {"php.request-eval", FamilyPHP, 90, "request input in code that is evaluated (eval, assert, create_function, preg_replace with /e)"},
	phpRequestCallable:     {"php.request-callable", FamilyPHP, 90, "request input chooses the function to call ($_GET['f'](...), call_user_func($_POST[...]), array_map($_REQUEST[...], ...))"},
	phpRequestInclude:      {"php.request-include", FamilyPHP, 70, "include/require of a path taken from request input, or of the request body (php://input): remote or local file inclusion"},
	phpRequestVarCall:      {"php.request-var-call", FamilyPHP, 50, "a variable function ($f(...)) called with request input as argument"},
	phpRequestFlow:         {"php.request-flow", FamilyPHP, 60, "a variable assigned from request input a few lines earlier is passed to an execution sink or called as a function"},
	phpEvalDecoder:         {"php.eval-decoder", FamilyPHP, 75, "decoded data is evaluated or called: eval(base64_decode(...)), assert(gzinflate(...)), call_user_func(str_rot13(...), ...)"},
	phpDecoderChain:        {"php.decoder-chain", FamilyPHP, 40, "decoders chained into each other (gzinflate(base64_decode(...)), str_rot13(strrev(...))): layered payload encoding"},
	phpDecoderBlob:         {"php.decoder-blob", FamilyPHP, 30, "a decoder applied to a long inline literal: an embedded encoded payload"},
	phpEvalDynamic:         {"php.eval-dynamic", FamilyPHP, 35, "eval or assert of a variable or expression (code built at run time)"},
	phpEval:                {"php.eval", FamilyPHP, 10, "eval() is used"},
	phpExec:                {"php.exec", FamilyPHP, 15, "an OS command is run (system, exec, shell_exec, passthru, popen, proc_open, pcntl_exec, a `backtick` command)"},
	phpPregE:               {"php.preg-e", FamilyPHP, 60, "preg_replace with the /e modifier: the replacement is evaluated as PHP code"},
	phpCreateFunction:      {"php.create-function", FamilyPHP, 25, "create_function(): code compiled from a string (removed in PHP 8, a web-shell staple)"},
	phpVarCallBuilt:        {"php.var-call-built", FamilyPHP, 45, "a variable function whose name was decoded or assembled from pieces ($f = 'as'.'sert'; $f(...))"},
	phpSuperglobalIndirect: {"php.superglobal-indirect", FamilyPHP, 45, "a request superglobal reached by name (${'_GET'}, $GLOBALS['_POST']) to hide it from a reader"},
	phpRequestWrite:        {"php.request-write", FamilyPHP, 40, "a file written or moved where the path or content comes from request input (file_put_contents, fwrite, move_uploaded_file, copy)"},
	phpFunctionProbe:       {"php.function-probe", FamilyPHP, 10, "probes which functions are disabled (ini_get('disable_functions'), function_exists('system'...)) to pick a working command function"},
	phpCmdParam:            {"php.cmd-param", FamilyPHP, 15, "a request parameter named like a command (cmd, command, exec, execute, shell)"},
	phpIncludeWrapper:      {"php.include-wrapper", FamilyPHP, 35, "include/require of a data: URI or of a decoding php://filter stream: code that is in no file"},
	phpLDPreload:           {"php.ld-preload", FamilyPHP, 60, "putenv('LD_PRELOAD=...'): a native library loaded into the next process PHP starts (mail(), error_log()), a way around disable_functions"},

	aspRequestEval:         {"asp.request-eval", FamilyASP, 90, "request input evaluated as code (Eval, Execute, ExecuteGlobal of Request(...))"},
	aspEvalUnsafe:          {"asp.eval-unsafe", FamilyASP, 80, "JScript.NET eval with the \"unsafe\" option: arbitrary code with full trust (China Chopper style)"},
	aspRequestExec:         {"asp.request-exec", FamilyASP, 85, "request input near a command execution (WScript.Shell, Process.Start, cmd.exe)"},
	aspShellObject:         {"asp.shell-object", FamilyASP, 35, "a command shell object or process launch (WScript.Shell, Shell.Application, Process.Start, ProcessStartInfo, cmd.exe)"},
	aspAssemblyLoad:        {"asp.assembly-load", FamilyASP, 60, "an assembly loaded or compiled from bytes or source near decoding (Assembly.Load, CompileAssemblyFromSource)"},
	aspRequestAssemblyLoad: {"asp.request-assembly-load", FamilyASP, 85, "an assembly loaded or compiled near request input (Assembly.Load(Request.BinaryRead(...))): .NET memory shells such as Godzilla, Behinder"},
	aspEvalDynamic:         {"asp.eval-dynamic", FamilyASP, 30, "Eval/Execute/ExecuteGlobal of a non-literal expression"},
	aspRequestWrite:        {"asp.request-write", FamilyASP, 40, "a file written near request input (FileSystemObject, ADODB.Stream SaveToFile, SaveAs)"},

	jspRequestExec:      {"jsp.request-exec", FamilyJSP, 90, "request input near a command execution (Runtime.exec, ProcessBuilder)"},
	jspExec:             {"jsp.exec", FamilyJSP, 40, "a command is executed (Runtime.getRuntime().exec, ProcessBuilder)"},
	jspRequestClassLoad: {"jsp.request-class-load", FamilyJSP, 85, "a class defined from request data (ClassLoader.defineClass near request input): memory shells such as Behinder, Godzilla"},
	jspDefineClass:      {"jsp.define-class", FamilyJSP, 40, "a class defined from bytes (defineClass, a ClassLoader subclass) next to decryption or decoding"},
	jspRequestEval:      {"jsp.request-eval", FamilyJSP, 85, "request input evaluated by a script engine (ScriptEngine.eval, ELProcessor, GroovyShell)"},
	jspScriptEval:       {"jsp.script-eval", FamilyJSP, 30, "a script engine evaluates code at run time (ScriptEngineManager, ELProcessor, GroovyShell)"},
	jspRequestWrite:     {"jsp.request-write", FamilyJSP, 40, "a file written near request input (FileOutputStream, FileWriter)"},
	jspServerInternals:  {"jsp.server-internals", FamilyJSP, 50, "the servlet container's internals reached from a page (StandardContext, ApplicationFilterConfig, FilterDef, addServletMappingDecoded): a filter or servlet registered at run time, as memory shells do"},

	cgiRequestExec:  {"cgi.request-exec", FamilyCGI, 85, "request input near a command or code execution (system, exec, qx, backticks, os.system, subprocess, eval)"},
	cgiExec:         {"cgi.exec", FamilyCGI, 20, "a command is executed (system, exec, qx, backticks, os.system, os.popen, subprocess)"},
	cgiEvalDecoder:  {"cgi.eval-decoder", FamilyCGI, 70, "decoded data is evaluated (eval(decode_base64(...)), exec(base64.b64decode(...)))"},
	cgiEvalDynamic:  {"cgi.eval-dynamic", FamilyCGI, 25, "eval/exec of a non-literal expression"},
	cgiRequestWrite: {"cgi.request-write", FamilyCGI, 40, "a file opened for writing near request input"},

	cfmRequestExec:  {"cfm.request-exec", FamilyCFM, 90, "request input (url., form. scopes) near a command execution (cfexecute, java.lang.Runtime)"},
	cfmExecute:      {"cfm.execute", FamilyCFM, 40, "a command is executed (<cfexecute>, java.lang.Runtime, ProcessBuilder)"},
	cfmRequestEval:  {"cfm.request-eval", FamilyCFM, 85, "request input evaluated as code (Evaluate(url....), PrecisionEvaluate)"},
	cfmRequestWrite: {"cfm.request-write", FamilyCFM, 40, "a file uploaded or written near request input (<cffile action=upload|write>, FileWrite)"},

	ssiExec: {"ssi.exec", FamilySSI, 80, "a server-side include runs a command (<!--#exec cmd=...>)"},

	anyShellMarker:  {"any.shell-marker", FamilyNone, 50, "the name or a telltale string of a well-known web shell (c99, r57, WSO/FilesMan, b374k, China Chopper, AspxSpy, JspSpy, ...)"},
	anyCmdForm:      {"any.cmd-form", FamilyNone, 25, "an HTML form field named like a command box (cmd, command, execute)"},
	anyReverseShell: {"any.reverse-shell", FamilyNone, 60, "a network socket next to a shell (fsockopen, socket, TcpClient with /bin/sh, cmd.exe, dup2, pty.spawn): a reverse or bind shell"},
	anyBase64Blob:   {"any.base64-blob", FamilyNone, 20, "a long run of base64 text (256+ characters, high entropy) outside a data: URI: an encoded payload"},
	anyHexBlob:      {"any.hex-blob", FamilyNone, 20, "a long run of hex digits (256+): an encoded payload"},
	anyEscapeBlob:   {"any.escape-blob", FamilyNone, 20, "a long run of \\x or octal escapes (16+ in a row): an encoded string"},
	anyCharChain:    {"any.char-chain", FamilyNone, 25, "a string assembled character by character (chr(101).chr(118)..., String.fromCharCode, Chr(...)&Chr(...))"},
	anyLongLine:     {"any.long-line", FamilyNone, 10, "a very long line (over 4096 bytes): packed or obfuscated code"},
}

var indexByID = func() map[string]ind {
	m := make(map[string]ind, numIndicators)
	for i, c := range catalog {
		m[c.ID] = ind(i)
	}
	return m
}()

// Catalog returns every indicator with its default weight, in catalog
// order (by family, then from strongest to weakest).
func Catalog() []Indicator { return slices.Clone(catalog[:]) }

// Lookup returns the indicator with the given id.
func Lookup(id string) (Indicator, bool) {
	i, ok := indexByID[id]
	if !ok {
		return Indicator{}, false
	}
	return catalog[i], true
}
