"""The LLM coder's parts: endpoint client, prompts, answer checks, cache, pseudonymization, prices.

`pipeline.coders.llm.LLMCoder` puts them together; each module here has one job and no
knowledge of the others beyond the models it takes and returns.
"""
