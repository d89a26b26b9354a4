import CoevoCore
import Testing

/// Reading a model's rewrite of a file. Bad input tried: a reply with no fenced block, one
/// cut off inside its block (max tokens), one that gives the file back unchanged, an
/// empty block.
@Suite struct ModelMutationTests {
    let original = "X = 0.5\nprint(X)\n"

    @Test func theFirstCompleteFencedBlockIsTheNewFile() {
        let reply = """
            Here is a better version:
            ```python
            X = 0.9
            print(X)
            ```
            ```
            ignored = True
            ```
            """
        #expect(ModelMutation.rewrite(reply, of: original) == "X = 0.9\nprint(X)\n")
        // A bare fence works too, indented fences as well.
        #expect(ModelMutation.rewrite("  ```\nX = 1\n  ```", of: original) == "X = 1\n")
    }

    @Test func aReplyWithoutAChangedCompleteFileIsNoRewrite() {
        #expect(ModelMutation.rewrite("X should be larger.", of: original) == nil)
        #expect(ModelMutation.rewrite("```python\nX = 0.9\nprint(", of: original) == nil, "cut off inside the block")
        #expect(ModelMutation.rewrite("```\n\(original)```", of: original) == nil, "unchanged")
        #expect(ModelMutation.rewrite("```\n\n```", of: original) == nil, "empty")
    }

    @Test func thePromptShowsTheStepAndTheFile() {
        let prompt = ModelMutation.prompt(step: "Task: make X big. Round 2 of 4.", path: "pack.py", file: original)
        #expect(prompt.hasPrefix("Task: make X big. Round 2 of 4."))
        #expect(prompt.contains("`pack.py`") && prompt.contains("```\n\(original)\n```"))
    }
}
