"""Hello world and a stdin/stdout program in every language, compiled and run for real in the jail."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(240)

# Each program prints "hello", then the stdin words reversed and upper-cased, one line.
PROGRAMS = {
    "python": "import sys\nprint('hello')\nprint(' '.join(w.upper() for w in sys.stdin.read().split()[::-1]))\n",
    "javascript": "const w = require('fs').readFileSync(0, 'utf8').split(/\\s+/).filter(Boolean);\n"
                  "console.log('hello'); console.log(w.reverse().map(s => s.toUpperCase()).join(' '));\n",
    "typescript": "const w: string[] = require('fs').readFileSync(0, 'utf8').split(/\\s+/).filter(Boolean);\n"
                  "console.log('hello'); console.log(w.reverse().map((s: string) => s.toUpperCase()).join(' '));\n",
    "bash": "echo hello\nread -r -a w\nout=()\nfor ((i=${#w[@]}-1; i>=0; i--)); do out+=(\"${w[i]^^}\"); done\n"
            "echo \"${out[*]}\"\n",
    "c": "#include <stdio.h>\n#include <ctype.h>\n#include <string.h>\nint main(void){char w[16][64]; int n=0;\n"
         "puts(\"hello\"); while(n<16 && scanf(\"%63s\", w[n])==1) n++;\n"
         "for(int i=n-1;i>=0;i--){for(char*p=w[i];*p;p++)*p=toupper(*p); printf(i? \"%s \":\"%s\\n\", w[i]);}"
         "return 0;}\n",
    "cpp": "#include <iostream>\n#include <vector>\n#include <string>\n#include <algorithm>\nint main(){"
           "std::vector<std::string> w; std::string s; std::cout<<\"hello\\n\"; while(std::cin>>s){"
           "std::transform(s.begin(),s.end(),s.begin(),::toupper); w.push_back(s);} std::reverse(w.begin(),w.end());"
           "for(size_t i=0;i<w.size();i++) std::cout<<w[i]<<(i+1<w.size()?\" \":\"\\n\");}\n",
    "java": "import java.util.*;\npublic class Main { public static void main(String[] a) {\n"
            "Scanner sc = new Scanner(System.in); List<String> w = new ArrayList<>();\n"
            "while (sc.hasNext()) w.add(sc.next().toUpperCase()); Collections.reverse(w);\n"
            "System.out.println(\"hello\"); System.out.println(String.join(\" \", w)); } }\n",
    "go": "package main\nimport (\"bufio\"; \"fmt\"; \"os\"; \"strings\")\nfunc main() {\n"
          "sc := bufio.NewScanner(os.Stdin); sc.Split(bufio.ScanWords); var w []string\n"
          "for sc.Scan() { w = append([]string{strings.ToUpper(sc.Text())}, w...) }\n"
          "fmt.Println(\"hello\"); fmt.Println(strings.Join(w, \" \")) }\n",
    "rust": "use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s)"
            ".unwrap();\nlet w: Vec<String> = s.split_whitespace().rev().map(|x| x.to_uppercase()).collect();\n"
            "println!(\"hello\"); println!(\"{}\", w.join(\" \")); }\n",
}


@pytest.mark.parametrize("language", sorted(PROGRAMS))
def test_hello_and_stdin(sandbox, language):
    lang = sandbox.table.get(language)
    if not lang.available():
        pytest.skip(f"{language} toolchain missing: {lang.install}")
    r = sandbox.run(language, PROGRAMS[language], stdin="tanuki writes code\n")
    assert r.compile_failed is False, r.compile
    assert r.exit_code == 0, (r.stderr, r.compile)
    assert r.stdout.splitlines() == ["hello", "CODE WRITES TANUKI"], r.stdout
    assert r.limit_hit is None and not r.timed_out and not r.oom_killed and not r.output_truncated
    assert r.backend == "jail" and r.isolation == "full"
    if lang.compiled:
        again = sandbox.run(language, PROGRAMS[language], stdin="a b")
        assert again.compile is not None and again.compile.cached
        assert again.stdout.splitlines() == ["hello", "B A"]


def test_every_language_in_the_table_is_tested(sandbox):
    assert {lang.name for lang in sandbox.table} == set(PROGRAMS)
