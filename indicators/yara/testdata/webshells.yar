// Rules written for webfim's tests, in the style of public web-shell rule
// sets (strings plus a condition, tags, meta).

rule php_eval_request : webshell php
{
    meta:
        description = "PHP eval of request input"
        score = 80
    strings:
        $eval = /eval\s*\(\s*\$_(GET|POST|REQUEST|COOKIE)/ nocase
    condition:
        $eval and filesize < 100KB
}

rule jsp_runtime_exec : webshell jsp
{
    meta:
        description = "JSP Runtime exec of a request parameter"
    strings:
        $a = "Runtime.getRuntime().exec(" ascii
        $b = "request.getParameter" ascii
    condition:
        all of them
}

rule named_by_file
{
    condition:
        filename == "shell.php"
}
