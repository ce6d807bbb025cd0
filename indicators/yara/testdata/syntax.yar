rule ok_rule { condition: true }
rule bad_syntax
{
    strings:
        $a = "unterminated
    condition:
        $a
}
