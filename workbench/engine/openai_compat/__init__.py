"""The remote engine: any OpenAI-compatible server (llama.cpp's server, vLLM, Ollama, hosted APIs).
Import from the modules (endpoint is light; backend brings the `openai` client)."""
