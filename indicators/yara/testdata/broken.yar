rule fine { condition: true }

rule uses_undefined_string
{
    strings:
        $a = "x"
    condition:
        $a and $missing
}
